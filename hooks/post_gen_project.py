"""Wire the backup pieces into the project and print what was done.

The project may be new or one that already existed (the template applied onto it with
``--overwrite-if-exists``). The work is done by the plain-Python ``backup_wiring``
package beside this hook (see its modules); this file only hands it the answers, which
arrive as JSON data and are never pasted into source.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ANSWERS: dict[str, Any] = json.loads(r"""{{ cookiecutter | tojson }}""")
HOOKS_DIR = Path(str(ANSWERS.get("_repo_dir") or Path(__file__).resolve().parents[1])) / "hooks"


def main() -> int:
    """Wire every piece in, print the summary (warnings to stderr)."""
    sys.path.insert(0, str(HOOKS_DIR))
    from backup_wiring import template_files
    from backup_wiring.apply import apply

    project = Path.cwd()
    snapshot = template_files.load_snapshot(project)
    report = apply(project, ANSWERS, snapshot)
    sys.stderr.write(report.render_warnings())
    sys.stdout.write(report.render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
