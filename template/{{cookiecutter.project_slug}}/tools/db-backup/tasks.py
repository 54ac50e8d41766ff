"""Backup tasks for this project: ``invoke -r tools/db-backup --list`` shows them.

Each task runs ``scripts/db-backup.sh``, so a task behaves exactly like the
command a cron job or a Kubernetes CronJob runs, with the same exit codes.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from invoke import Context, Exit, task

TOOL_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = TOOL_DIR.parents[1]
SCRIPT = PROJECT_ROOT / "scripts" / "db-backup.sh"
RESTORE_SCRIPT = PROJECT_ROOT / "scripts" / "db-restore.sh"
TYPES = ("daily", "weekly", "monthly", "auto")


def _run(c: Context, *args: str, script: Path = SCRIPT) -> None:
    """Run the backup (or restore) script; its exit code becomes the task's."""
    if not script.is_file():
        raise Exit(f"{script} is missing: this task runs inside a generated project")
    result = c.run(shlex.join([str(script), *args]), warn=True, pty=False)
    if result is not None and result.exited:
        raise Exit(code=result.exited)


def _type_flag(backup_type: str) -> str:
    if backup_type not in TYPES:
        raise Exit(f"--type must be one of {', '.join(TYPES)}, got {backup_type!r}", code=2)
    return f"--type={backup_type}"


@task(
    help={
        "type": "daily, weekly, monthly or auto (default: daily)",
        "schema_only": "back up the schema only",
        "verify": "verify the backup after creating it",
        "verbose": "print debug output",
    }
)
def backup(
    c: Context,
    type: str = "daily",
    schema_only: bool = False,
    verify: bool = False,
    verbose: bool = False,
) -> None:
    """Make a backup now (scripts/db-backup.sh)."""
    args = [_type_flag(type)]
    if schema_only:
        args.append("--schema-only")
    if verify:
        args.append("--verify")
    if verbose:
        args.append("--verbose")
    _run(c, *args)


@task(help={"path": "the backup file to check (.sql.gz or .sql.zst)"})
def verify(c: Context, path: str) -> None:
    """Verify an existing backup file: checksum, integrity, completeness, test restore."""
    _run(c, "--verify-file", str(Path(path).resolve()))


@task(name="list", help={"verify": "recompute every local backup's sha256"})
def list_backups(c: Context, verify: bool = False) -> None:
    """List every backup, local and remote, newest first."""
    _run(c, "--list", *(["--verify"] if verify else []))


@task(help={"type": "the backup type whose retention plan to show (default: daily)"})
def prune_dry_run(c: Context, type: str = "daily") -> None:
    """Show what retention would delete after the next backup; delete nothing."""
    _run(c, "--dry-run", _type_flag(type))


@task(
    help={
        "backup": "latest (default), a file path or name in BACKUP_DIR, or s3://bucket/key",
        "target": "the new database (default: <db>_restored_<time>)",
        "replace": "put the proven restore in place of the live database (with --yes)",
        "yes": "confirm --replace without asking",
        "dry_run": "check the backup and name the target; touch no database",
    }
)
def restore(
    c: Context,
    backup: str = "latest",
    target: str = "",
    replace: bool = False,
    yes: bool = False,
    dry_run: bool = False,
) -> None:
    """Restore a backup into a new database and prove it (scripts/db-restore.sh)."""
    args = [backup]
    if target:
        args.append(f"--target={target}")
    if replace:
        args.append("--replace")
    if yes:
        args.append("--yes")
    if dry_run:
        args.append("--dry-run")
    _run(c, *args, script=RESTORE_SCRIPT)


@task(help={"check": "only report stale files (exit 1 when there are some)"})
def settings_docs(c: Context, check: bool = False) -> None:
    """Rewrite the env examples and README settings tables from src/db_backup/variables.py."""
    sys.path.insert(0, str(TOOL_DIR / "src"))
    from db_backup import variables_docs

    expected = variables_docs.expected_files(PROJECT_ROOT)
    stale = variables_docs.stale_files(expected) if check else variables_docs.regenerate(expected)
    for path in stale:
        print(f"{'stale' if check else 'rewritten'}: {path.relative_to(PROJECT_ROOT)}")
    if check and stale:
        raise Exit(f"run: {variables_docs.REGENERATE}", code=1)


@task
def test(c: Context) -> None:
    """Run the backup tool's own unit tests (no database needed)."""
    with c.cd(str(TOOL_DIR)):
        c.run(shlex.join([sys.executable, "-m", "pytest", "-q"]), pty=False)
