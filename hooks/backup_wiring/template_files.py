"""Keep a user's edits to the files the template owns when it is applied again.

``cookiecutter --overwrite-if-exists`` rewrites every file of the template. Before it
does, the pre-generation hook saves the bytes of those files that already exist; after
it, the post-generation hook compares. A file is replaced only when the user never
changed it, which the manifest (``tools/db-backup/generated.sha256``, the hashes of what
the template last wrote, in ``sha256sum`` format) tells; otherwise the user's bytes are
put back and the difference is printed.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

PROJECT_FOLDER = "{{cookiecutter.project_slug}}"
STAGING = "_backup_fragments"
MANIFEST = "tools/db-backup/generated.sha256"
LEFTOVERS = ("__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache")
DIFF_LINES = 40


def template_paths(repo_dir: Path) -> list[str]:
    """The project-relative paths of the files the template writes (staging excluded)."""
    root = repo_dir / PROJECT_FOLDER
    if not root.is_dir():
        root = repo_dir / "template" / PROJECT_FOLDER
    paths = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        skipped = relative.parts[0] == STAGING or set(relative.parts) & set(LEFTOVERS)
        if path.is_file() and not skipped:
            paths.append(relative.as_posix())
    return sorted(paths)


def snapshot_file(project: Path) -> Path:
    """Where the pre-generation hook leaves the saved files for the post-generation hook."""
    key = hashlib.sha256(f"{os.getppid()}:{project.resolve()}".encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"db-backup-template-{key}.json"


def save_snapshot(project: Path, paths: list[str]) -> None:
    """Save the bytes and modes of the template's files that exist in ``project``."""
    files = {}
    for relative in paths:
        path = project / relative
        if path.is_file():
            files[relative] = {
                "data": base64.b64encode(path.read_bytes()).decode("ascii"),
                "mode": path.stat().st_mode & 0o7777,
            }
    target = snapshot_file(project)
    target.write_text(json.dumps({"paths": paths, "files": files}), encoding="utf-8")
    target.chmod(0o600)


def load_snapshot(project: Path) -> dict | None:
    """The saved files (and remove the saved copy), or None when none was saved."""
    source = snapshot_file(project)
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    source.unlink(missing_ok=True)
    return data


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_manifest(text: str) -> dict[str, str]:
    """``sha256sum`` lines -> {path: hash}."""
    manifest = {}
    for line in text.splitlines():
        digest, _, path = line.partition("  ")
        if len(digest) == 64 and path:
            manifest[path] = digest
    return manifest


@dataclass(frozen=True)
class Outcome:
    """What happened to one template file."""

    path: str
    status: str  # created, unchanged, updated or kept
    diff: str = ""


def unified_diff(path: str, yours: bytes, template: bytes) -> str:
    """The first lines of a diff from the user's file to the template's, for the summary."""
    lines = list(
        difflib.unified_diff(
            yours.decode("utf-8", "replace").splitlines(),
            template.decode("utf-8", "replace").splitlines(),
            f"{path} (yours, kept)",
            f"{path} (template)",
            lineterm="",
        )
    )
    if len(lines) > DIFF_LINES:
        lines = [*lines[:DIFF_LINES], f"... ({len(lines) - DIFF_LINES} more lines)"]
    return "\n".join(lines)


def reconcile(project: Path, snapshot: dict) -> list[Outcome]:
    """Put back every file the user changed; record what the template wrote this time."""
    manifest_path = project / MANIFEST
    # Not a template file: cookiecutter left the last run's manifest in place.
    last_run = manifest_path.read_bytes() if manifest_path.is_file() else b""
    previous = read_manifest(last_run.decode("utf-8", "replace"))
    outcomes, written = [], {}
    for relative in snapshot["paths"]:
        path = project / relative
        if relative == MANIFEST or not path.is_file():
            continue
        new = path.read_bytes()
        written[relative] = sha256(new)
        saved = snapshot["files"].get(relative)
        if saved is None:
            outcomes.append(Outcome(relative, "created"))
            continue
        old = base64.b64decode(saved["data"])
        if old == new:
            outcomes.append(Outcome(relative, "unchanged"))
        elif previous.get(relative) == sha256(old):
            outcomes.append(Outcome(relative, "updated"))
        else:
            path.write_bytes(old)
            path.chmod(saved["mode"])
            outcomes.append(Outcome(relative, "kept", unified_diff(relative, old, new)))
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(
        "".join(f"{digest}  {relative}\n" for relative, digest in sorted(written.items())),
        encoding="utf-8",
    )
    return outcomes
