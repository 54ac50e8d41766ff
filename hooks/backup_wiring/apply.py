"""Wire the backup pieces into a project, new or existing, and report what was done.

Order matters: the compose files are read first (they say which database to back up),
then the rendered settings are adjusted to it, then the user's own edits to template
files are put back, and last the shared files (compose files, .env.example, .gitignore)
are merged. Each shared file is created when absent (where that makes sense) or edited
by adding lines only; where a safe edit is impossible the file is left alone and the
exact lines to add are printed.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import adopted_database, env_text, template_files
from .choices import Choices
from .compose_discovery import compose_files
from .compose_wiring import ComposeWiring, compose_command, primary, run_command
from .report import Report
from .text_edit import CannotMerge, read_text

STAGING = "_backup_fragments"
NEW_COMPOSE_NAME = "compose.yml"
# Only these are made executable: the project's own scripts keep their mode.
SHIPPED_SCRIPTS = ("scripts/db-backup.sh", "scripts/db-restore.sh")
TEMPLATE_FOLDERS = ("tools", "scripts", STAGING)


def is_new_project(project: Path) -> bool:
    """Whether the folder holds nothing but what the template itself just wrote."""
    return all(item.name in TEMPLATE_FOLDERS for item in project.iterdir())


class Wiring:
    """One run of the post-generation hook over ``project``."""

    def __init__(self, project: Path, answers: Mapping[str, Any]) -> None:
        self.project = project
        self.choices = Choices.from_answers(answers)
        self.fragments = project / STAGING
        self.new_project = is_new_project(project)
        self.report = Report(str(project), self.new_project)
        self.dotenv = env_text.read_env(project / ".env")
        self.compose = ComposeWiring(project, self.report, self.dotenv, self.choices)
        self.created_compose = False

    # --- compose and the database -----------------------------------------------------

    def find_databases(self) -> None:
        """Read every compose file (creating compose.yml only where asked) and find the
        service that runs PostgreSQL in each."""
        files = compose_files(self.project)
        if not files:
            wanted = self.choices.new_compose_file
            if wanted == "yes" or (wanted == "if-new-project" and self.new_project):
                path = self.project / NEW_COMPOSE_NAME
                path.write_bytes(read_text(self.fragments / "compose.yml").encode("utf-8"))
                self.created_compose = True
                self.report.compose.append(f"{NEW_COMPOSE_NAME}: created with a postgres service")
                files = [path]
            else:
                self.report.compose.append(
                    "none in the project folder, none created: the backup runs on the host "
                    "(answer new_compose_file=yes for a compose.yml with PostgreSQL)"
                )
        self.compose.find_databases(files)

    def adopt_database(self) -> None:
        """Point the host-run tool's defaults at the project's own database."""
        main = primary(self.compose.wired)
        if main is not None:
            adopted_database.adopt(
                self.project, main.database, main.path.name, self.dotenv, self.report
            )
            return
        self.report.database += [
            f"scripts/db-backup.sh backs up database {self.choices.postgres_db} as user "
            f"{self.choices.postgres_user} (the answers; the process environment, "
            "scripts/backup-config.env and .env override them)",
            "it runs this machine's pg_dump, which must be the server's major version or "
            "newer (an older one is refused, exit 2)",
        ]

    # --- shared files -------------------------------------------------------------------

    def merge_file(self, name: str, merge: Any, new_text: str | None, advice: str) -> None:
        """Create ``name`` from ``new_text`` (None: never create) or merge into it."""
        path = self.project / name
        try:
            old = read_text(path) if path.exists() else None
            if old is None and new_text is None:
                self.report.left_alone.append(f"{name}: the project has none; none created")
                return
            new = new_text if old is None else merge(old)
        except CannotMerge as reason:
            self.report.warn(f"{name} was left unchanged: {reason}.\n{advice}")
            return
        if new == old:
            self.report.files.append(f"{name}: already up to date")
            return
        path.write_bytes(new.encode("utf-8"))
        self.report.files.append(f"{name}: {'created' if old is None else 'updated'}")

    def wire_env_example(self) -> None:
        """Add the backup block to .env.example (created only for a new project), and the
        database block when this run created compose.yml's postgres service."""
        block = read_text(self.fragments / "env.example")
        blocks = [(block, env_text.ENV_MARKER)]
        if self.created_compose:
            database = read_text(self.fragments / "env-database.example")
            blocks.insert(0, (database, env_text.DATABASE_MARKER))

        def merge(old: str) -> str:
            for text, marker in blocks:
                old = env_text.merge_env_example(old, text, marker)
            return old

        creates = self.new_project or self.created_compose
        self.merge_file(
            ".env.example",
            merge,
            "\n".join(text for text, _ in blocks) if creates else None,
            "Append to .env.example:\n" + "\n".join(text for text, _ in blocks),
        )

    def wire_gitignore(self) -> None:
        """Keep backups and the backup config (it may hold secrets) out of git."""
        fragment = read_text(self.fragments / "gitignore")
        self.merge_file(
            ".gitignore",
            lambda old: env_text.merge_gitignore(old, fragment),
            fragment,
            f"Add these lines to .gitignore:\n{fragment}",
        )

    # --- files the template owns --------------------------------------------------------

    def keep_user_edits(self, snapshot: dict | None) -> None:
        """Put back template files the user changed; report what the template wrote."""
        if snapshot is None:
            return
        outcomes = template_files.reconcile(self.project, snapshot)
        counts: dict[str, int] = {}
        for outcome in outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
            if outcome.status == "kept":
                self.report.warn(
                    f"{outcome.path}: you changed it, so it was kept; the template's "
                    f"version differs:\n{outcome.diff}"
                )
        if counts:
            shown = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
            self.report.files.append(f"template files (tools/db-backup, scripts): {shown}")

    def make_scripts_executable(self) -> None:
        """Give the shipped scripts their run bit wherever they are readable."""
        for name in SHIPPED_SCRIPTS:
            script = self.project / name
            if not script.is_file():
                continue
            mode = script.stat().st_mode
            script.chmod(mode | (mode & 0o444) >> 2)

    def next_steps(self) -> None:
        """The commands to run next: a first backup, a check, a schedule; and the restore."""
        main = primary(self.compose.wired)
        if main is not None and self.choices.add_service:
            command, folder = run_command(main.path), "/backups"
            restore = f"{command} restore"
            once = f"{command} --once"
            schedule = (
                f"{compose_command(main.path)} up -d db-backup   "
                "(BACKUP_SCHEDULE in .env, default @daily)"
            )
        else:
            command, folder = "scripts/db-backup.sh", "backups"
            restore = "scripts/db-restore.sh"
            once = command
            schedule = f"17 3 * * * cd {self.project} && {command} --once --type=auto --verify"
        self.report.next_steps += [
            f"first backup:  {once} --verify",
            f"check it:      {command} --list   (then --verify-file {folder}/<name>)",
            f"schedule:      {schedule}",
            f"restore drill: {restore} --dry-run   (then without --dry-run: a new database)",
        ]

    def leave_alone(self) -> None:
        """Say what an existing project keeps as it was."""
        if not self.new_project:
            self.report.left_alone.append(
                "README, pyproject, tasks and every file outside tools/db-backup and the "
                "template's own scripts/ files are never written; the host's pytest skips "
                "tools/db-backup (its tests run from that folder)"
            )

    def run(self, snapshot: dict | None) -> Report:
        """Every step, in the order the module docstring explains."""
        self.find_databases()
        self.compose.check_server_versions()
        self.adopt_database()
        self.keep_user_edits(snapshot)
        for item in self.compose.wired:
            self.compose.wire(item)
        self.compose.note_backup_volumes()
        self.wire_env_example()
        self.wire_gitignore()
        self.make_scripts_executable()
        shutil.rmtree(self.fragments)
        self.leave_alone()
        self.next_steps()
        return self.report


def apply(project: Path, answers: Mapping[str, Any], snapshot: dict | None) -> Report:
    """Wire the backups into ``project``; the report says what happened."""
    return Wiring(project, answers).run(snapshot)
