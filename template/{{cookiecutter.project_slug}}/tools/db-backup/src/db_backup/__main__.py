"""``python -m db_backup``: db-backup.sh; ``python -m db_backup restore``: db-restore.sh.

The interpreter version is checked here, before any module that needs 3.10 is
imported, so an old python3 gets one clear line and exit 2 (configuration).
"""

import sys
import time

if sys.version_info < (3, 10):  # noqa: UP036 - the check is for interpreters older than that
    found = ".".join(str(part) for part in sys.version_info[:2])
    sys.stderr.write(
        time.strftime("[%Y-%m-%d %H:%M:%S] [ERROR] ")
        + f"python3 3.10 or newer is required, found {found}: install a newer python3\n"
    )
    raise SystemExit(2)

if sys.argv[1:2] == ["restore"]:  # scripts/db-restore.sh
    from .restore_cli import main

    raise SystemExit(main(sys.argv[2:]))

from .cli import main

raise SystemExit(main())
