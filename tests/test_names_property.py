"""Database names, users, passwords and env-file values drawn from arbitrary Unicode.

For every drawn case the baked tool runs against the real PostgreSQL, the values coming
from the environment or, quoted, from ``scripts/backup-config.env``. The properties:

- a name PostgreSQL keeps as given (no control character, 1 to 63 bytes) is backed up
  (a database name also without '/' or a leading '.', as it starts file names): exit 0,
  and the backup holds the marker table made in *that* database (a name such as
  ``host=... dbname=postgres`` must not be read as connection parameters);
- any other name, or a value the env file cannot carry, is exit 2 with one error line
  (followed at most by its ``detail:`` and ``hint:`` lines);
- nothing in a value is ever executed: shell payloads (``$(touch ...)``, backquotes,
  ``; touch``) create no file;
- the password appears in no output: stdout, stderr, the metrics file, the backup
  directory's files (the ``.sha256`` among them) and the dump itself.
"""

from __future__ import annotations

import gzip
import secrets
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, event, given, note, settings
from hypothesis import strategies as st

from tests.helpers import describe, run_tool
from tests.services.postgres import PostgresServer, quote_ident, quote_literal

pytestmark = pytest.mark.integration

CANARY = "db_backup_pwned"
PAYLOADS = (
    "$(touch {c})",
    "`touch {c}`",
    "; touch {c}",
    "' ; touch {c} #",
    '"; touch {c}; "',
    "| touch {c}",
    "& touch {c} &",
    "${{IFS}}touch${{IFS}}{c}",
)
# Names that mean something to a shell, libpq, a format string or a path.
SPECIAL = (
    "host=127.0.0.1 dbname=postgres",
    "postgresql://localhost/postgres",
    "dbname=x",
    "-d",
    "--help",
    "..",
    ".hidden",
    "a/b",
    "-",
    "*",
    "~",
    "%s%n",
    "{0}",
    "\\",
    "$HOME",
    " lead",
    "trail ",
    "é" * 31,
    "日本語のデータベース",
    "a\u2028b",
)
# str.splitlines() ends a line at these, so an env file cannot carry them in a value.
LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def values() -> st.SearchStrategy[str]:
    """Arbitrary Unicode, shell payloads wrapped in it, and names with a meaning elsewhere."""
    payload = st.builds(
        lambda before, template, after: before + template.format(c=CANARY) + after,
        st.text(max_size=5),
        st.sampled_from(PAYLOADS),
        st.text(max_size=5),
    )
    # An empty value means "unset" (the default applies), so every value has a character.
    return st.one_of(
        st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=24),
        st.text(min_size=1, max_size=24),
        payload,
        st.sampled_from(SPECIAL),
        st.text(min_size=1, max_size=70),
    )


def password_ends() -> st.SearchStrategy[str]:
    """What surrounds a password's unique token: arbitrary Unicode or a shell payload."""
    return st.one_of(
        st.text(max_size=12), st.sampled_from(PAYLOADS).map(lambda p: p.format(c=CANARY))
    )


@dataclass(frozen=True)
class Case:
    """One drawn case; the password is ``before + token + after`` with a fresh token."""

    dbname: str
    user: str
    before: str
    after: str
    in_file: frozenset[str]  # the variables written to the env file rather than the environment

    def password(self, token: str) -> str:
        return self.before + token + self.after


def env_file_line(name: str, value: str) -> str:
    """``NAME='value'`` (or double quotes when the value holds a single quote)."""
    quote = "'" if "'" not in value else '"'
    return f"{name}={quote}{value}{quote}"


def carried_by_file(value: str) -> bool:
    """Whether a quoted env-file value comes back exactly as written."""
    return not (LINE_BREAKS & set(value)) and not ("'" in value and '"' in value)


def keepable(name: str) -> bool:
    """A name PostgreSQL keeps as given: 1 to 63 bytes, no control character."""
    size = len(name.encode("utf-8"))
    return 1 <= size <= 63 and not any(unicodedata.category(ch) == "Cc" for ch in name)


def fits_a_file_name(dbname: str) -> bool:
    """The tool's documented rule for the name's part in backup file names."""
    return "/" not in dbname and not dbname.startswith(".")


@st.composite
def cases(draw: st.DrawFn) -> Case:
    dbname, user = draw(values()), draw(values())
    before, after = draw(password_ends()), draw(password_ends())
    if draw(st.integers(0, 9)) == 0:
        after += "\0"  # only an env file can hold it, and no PostgreSQL password
    password = before + after  # the token (hex) changes nothing below
    in_file = set()
    drawn = (("POSTGRES_DB", dbname), ("POSTGRES_USER", user), ("PGPASSWORD", password))
    for variable, value in drawn:
        file = draw(st.booleans())
        if "\0" in value:
            file = True  # no environment can carry a NUL
        elif "'" in value and '"' in value:
            file = False  # no quoting in the env file can carry both
        if file:
            in_file.add(variable)
    for value in (dbname, user, password):
        assume(not ("\0" in value and "'" in value and '"' in value))
    return Case(dbname, user, before, after, frozenset(in_file))


def refused(case: Case, password: str) -> bool:
    """Whether the tool must refuse the case with exit 2."""
    values = {"POSTGRES_DB": case.dbname, "POSTGRES_USER": case.user, "PGPASSWORD": password}
    for variable in case.in_file:
        if not carried_by_file(values[variable]):
            return True
    names_ok = keepable(case.dbname) and fits_a_file_name(case.dbname) and keepable(case.user)
    return not names_ok or "\0" in password


def one_error(stderr: str) -> bool:
    """One ``[ERROR]`` message, followed at most by its detail and hint lines; nothing else."""
    lines = stderr.splitlines()
    if not lines or "[ERROR] " not in lines[0]:
        return False
    rest = [line.split("[ERROR] ", 1)[-1] for line in lines[1:]]
    return all(line.startswith(("detail: ", "hint: ")) for line in rest)


def executed(project: Path, backup_dir: Path) -> list[Path]:
    """Canary files a shell payload would have made (in every plausible working directory)."""
    places = (project, project / "scripts", backup_dir, Path.home(), Path("/"), Path("/tmp"))
    return [place / CANARY for place in places if (place / CANARY).exists()]


def everything_written(backup_dir: Path, metrics: Path) -> dict[str, bytes]:
    """Every file the run wrote, backups also decompressed."""
    found = {}
    for path in [*sorted(backup_dir.rglob("*")), metrics]:
        if path.is_file():
            data = path.read_bytes()
            found[str(path)] = data
            if path.name.endswith(".gz") and data[:2] == b"\x1f\x8b":
                found[f"{path} (decompressed)"] = gzip.decompress(data)
    return found


def conninfo_dbname(name: str) -> str:
    """``dbname='name'`` for psql's ``-d``: libpq reads a bare ``-d`` holding ``=`` or
    starting ``postgresql://`` as connection parameters, not as a database name."""
    return "dbname='" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass
class Server:
    """Makes and removes a case's database and role, never touching ones that exist."""

    postgres: PostgresServer

    made: bool = False

    def role_exists(self, name: str) -> bool:
        sql = f"SELECT 1 FROM pg_roles WHERE rolname = {quote_literal(name)}"
        return self.postgres.psql(sql) == "1"

    def make(self, case: Case, password: str, token: str) -> None:
        pg = self.postgres
        self.made = True
        pg.psql(
            f"CREATE ROLE {quote_ident(case.user)} LOGIN NOSUPERUSER NOCREATEDB "
            f"PASSWORD {quote_literal(password)}"
        )
        pg.psql(f"CREATE DATABASE {quote_ident(case.dbname)} OWNER {quote_ident(case.user)}")
        table = quote_ident(f"marker_{token}")
        pg.psql(
            f"CREATE TABLE {table} (token text); INSERT INTO {table} VALUES ('{token}');"
            f"ALTER TABLE {table} OWNER TO {quote_ident(case.user)}",
            conninfo_dbname(case.dbname),
        )

    def remove(self, case: Case) -> None:
        """Drop what ``make`` created (nothing when it was not called)."""
        if self.made:
            self.postgres.drop_database(case.dbname)
            self.postgres.psql(f"DROP ROLE IF EXISTS {quote_ident(case.user)}")


@settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=cases())
def test_any_name_is_backed_up_or_refused_and_the_password_never_shows(
    case: Case, baked_project: Path, postgres: PostgresServer
) -> None:
    server = Server(postgres)
    token = "pw" + secrets.token_hex(8)  # in the password only
    marker = secrets.token_hex(8)  # in the case's database only
    password = case.password(token)
    must_refuse = refused(case, password)
    if not must_refuse:
        # Never touch what the server already has (postgres, template1, other tests' data).
        assume(not postgres.database_exists(case.dbname))
        assume(not server.role_exists(case.user) and not case.user.startswith("pg_"))
    note(f"{case!r}; refused: {must_refuse}")
    event("refused with exit 2" if must_refuse else "backed up")
    event(f"values from the env file: {len(case.in_file)} of 3")
    work = Path(tempfile.mkdtemp(prefix="names-"))
    backup_dir, metrics = work / "backups", work / "backup.prom"
    config = baked_project / "scripts" / "backup-config.env"
    values = {"POSTGRES_DB": case.dbname, "POSTGRES_USER": case.user, "PGPASSWORD": password}
    env = {
        **postgres.env("unused"),
        "BACKUP_DIR": str(backup_dir),
        "BACKUP_METRICS_FILE": str(metrics),
        **{k: v for k, v in values.items() if k not in case.in_file},
    }
    for variable in case.in_file:
        env.pop(variable, None)
    lines = [env_file_line(k, values[k]) for k in sorted(case.in_file)]
    config.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    try:
        if not must_refuse:
            server.make(case, password, marker)
        result = run_tool(baked_project, [], env, timeout=120)
        assert executed(baked_project, backup_dir) == [], "a value was run by a shell"
        if must_refuse:
            assert result.returncode == 2, describe(result)
            assert one_error(result.stderr), describe(result)
        else:
            assert result.returncode == 0, describe(result)
            [made] = [p for p in backup_dir.glob("*.sql.gz") if not p.name.startswith(".")]
            assert made.name.startswith(f"{case.dbname}_daily_"), made.name
            assert f"marker_{marker}".encode() in gzip.decompress(made.read_bytes())
        secret = password.encode("utf-8", "surrogateescape")
        outputs = {"stdout": result.stdout.encode(), "stderr": result.stderr.encode()}
        outputs.update(everything_written(backup_dir, metrics))
        for where, data in outputs.items():
            assert secret not in data and token.encode() not in data, f"password in {where}"
    finally:
        config.unlink(missing_ok=True)
        server.remove(case)
        shutil.rmtree(work, ignore_errors=True)
        for leftover in executed(baked_project, backup_dir):
            leftover.unlink()
