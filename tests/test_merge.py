"""The text merges, on strings: each edit adds only its lines, keeps every other byte, is
idempotent, and refuses (changing nothing) where a safe edit is impossible."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from backup_wiring import compose_text, env_text, text_edit
from backup_wiring.backup_service import scalar

SERVICE = """\
  # db-backup runner
  db-backup:
    depends_on:
      postgres:
        condition: service_started
    volumes:
      - ./backups:/backups
"""
ADDED = SERVICE.splitlines()


def added(indent: int = 2, step: int = 2) -> str:
    """SERVICE re-indented as the merge writes it into a file with this layout."""
    return "".join(line + "\n" for line in text_edit.reindent(SERVICE, indent, step))


# name, compose text before, compose text after adding SERVICE
SERVICE_CASES = [
    (
        "appended-at-the-end-of-services-before-the-next-key",
        "# top comment\nservices:\n  postgres:  # the database\n    image: postgres:16\n"
        "  web:\n    image: nginx  # front\n\nvolumes:\n  data: {}\n",
        "# top comment\nservices:\n  postgres:  # the database\n    image: postgres:16\n"
        "  web:\n    image: nginx  # front\n" + added() + "\nvolumes:\n  data: {}\n",
    ),
    (
        "four-space-indentation",
        "services:\n    postgres:\n        image: postgres:16\n",
        "services:\n    postgres:\n        image: postgres:16\n" + added(4, 4),
    ),
    (
        "crlf-line-endings-are-kept",
        "services:\r\n  postgres:\r\n    image: postgres\r\n",
        "services:\r\n  postgres:\r\n    image: postgres\r\n" + added().replace("\n", "\r\n"),
    ),
    (
        "no-trailing-newline",
        "services:\n  postgres:\n    image: postgres",
        "services:\n  postgres:\n    image: postgres\n" + added(),
    ),
    (
        "block-scalar-last-in-services",
        "services:\n  postgres:\n    command: |\n      postgres -c x=1\n\nvolumes: {}\n",
        "services:\n  postgres:\n    command: |\n      postgres -c x=1\n"
        + added()
        + "\nvolumes: {}\n",
    ),
    (
        "comment-after-services-stays-after-the-service",
        "services:\n  postgres:\n    image: postgres\n# trailing note\n",
        "services:\n  postgres:\n    image: postgres\n" + added() + "# trailing note\n",
    ),
    (
        "anchors-and-merge-keys-elsewhere-are-kept",
        "x-db: &db\n  image: postgres:16\nservices:\n  postgres:\n    <<: *db\n"
        "  replica:\n    <<: *db\n",
        "x-db: &db\n  image: postgres:16\nservices:\n  postgres:\n    <<: *db\n"
        "  replica:\n    <<: *db\n" + added(),
    ),
    (
        "tab-inside-a-value-is-kept",
        "services:\n  postgres:\n    command: ['postgres', '-c', 'a=b\tc']\n",
        "services:\n  postgres:\n    command: ['postgres', '-c', 'a=b\tc']\n" + added(),
    ),
]


@pytest.mark.parametrize(
    ("before", "after"), [c[1:] for c in SERVICE_CASES], ids=[c[0] for c in SERVICE_CASES]
)
def test_service_is_added_and_nothing_else_changes(before: str, after: str) -> None:
    """The service lands at the end of services in the file's own layout; the data of the
    rest of the file is unchanged."""
    merged = compose_text.add_service(before, "db-backup", SERVICE)
    assert merged == after
    data = yaml.safe_load(merged)
    assert data["services"]["db-backup"]["depends_on"] == {
        "postgres": {"condition": "service_started"}
    }
    del data["services"]["db-backup"]
    assert data == yaml.safe_load(before)


@pytest.mark.parametrize("indent", [2, 3, 4, 8])
def test_service_comes_out_the_same_at_any_indentation(indent: int) -> None:
    """Re-indented to the file's step, the service parses to the same data."""
    pad = " " * indent
    merged = compose_text.add_service(
        f"services:\n{pad}postgres:\n{pad * 2}image: postgres:16\n", "db-backup", SERVICE
    )
    assert (
        yaml.safe_load(merged)["services"]["db-backup"]
        == yaml.safe_load("services:\n" + SERVICE)["services"]["db-backup"]
    )


# name, compose text that must be refused, words the reason contains
REFUSED_CASES = [
    ("no-services", "volumes:\n  data: {}\n", "no services"),
    ("unparsable", "services:\n  postgres:\n    image: [oops\n", "not valid YAML"),
    ("tab-indentation", "services:\n\tpostgres:\n\t\timage: postgres\n", "not valid YAML"),
    ("flow-style-services", "services: {postgres: {image: postgres}}\n", "block mapping"),
    (
        "aliased-services",
        "x: &all\n  postgres:\n    image: postgres\nservices: *all\n",
        "anchor or alias",
    ),
    ("list-at-top-level", "- services\n", "block mapping"),
    ("empty-file", "", "block mapping"),
]


@pytest.mark.parametrize(
    ("text", "reason"), [c[1:] for c in REFUSED_CASES], ids=[c[0] for c in REFUSED_CASES]
)
def test_compose_that_cannot_be_edited_safely_is_refused(text: str, reason: str) -> None:
    """An unsafe edit raises CannotMerge saying why (the caller then changes nothing)."""
    with pytest.raises(compose_text.CannotMerge, match=reason):
        compose_text.add_service(text, "db-backup", SERVICE)


def test_a_service_that_would_not_come_out_as_written_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """If re-indenting garbled the service, nothing is written."""
    monkeypatch.setattr(compose_text, "reindent", lambda snippet, base, step: ["  db-backup: {}"])
    with pytest.raises(compose_text.CannotMerge, match="would not come out as written"):
        compose_text.add_service("services:\n  postgres:\n    image: x\n", "db-backup", SERVICE)


def test_an_edit_that_would_change_other_data_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The parse-and-compare guard refuses an edit that alters anything but the service."""
    garbling = [*text_edit.reindent(SERVICE, 2, 2), "  postgres: {}"]
    monkeypatch.setattr(compose_text, "reindent", lambda snippet, base, step: garbling)
    with pytest.raises(compose_text.CannotMerge):
        compose_text.add_service(
            "services:\n  postgres:\n    image: postgres\n", "db-backup", SERVICE
        )


@pytest.mark.parametrize(
    "value",
    [
        "app",
        "5432",
        "true",
        "null",
        "",
        "${POSTGRES_PASSWORD:?Variable not set}",
        "a: b",
        "#x",
        "- x",
        'it\'s "quoted" \\ here',
        "./backups:/backups",
        ".envs/.production/.postgres",
        "café",
    ],
)
def test_scalars_read_back_as_the_same_string(value: str) -> None:
    """Every value written into the service reads back as exactly that string."""
    assert yaml.safe_load(f"key: {scalar(value)}") == {"key": value}


BLOCK = "# ===\n# Database Backup Configuration\n# ===\nBACKUP_DIR=./backups\n"

# name, .env.example before, after
ENV_CASES = [
    ("empty-file", "", BLOCK),
    ("appended-after-a-blank-line", "A=1\n", "A=1\n\n" + BLOCK),
    ("existing-blank-line-reused", "A=1\n\n", "A=1\n\n" + BLOCK),
    ("no-trailing-newline", "A=1", "A=1\n\n" + BLOCK),
    ("crlf", "A=1\r\n", "A=1\r\n\r\n" + BLOCK.replace("\n", "\r\n")),
    ("marker-present", "A=1\n# Database Backup Configuration\nX=2\n", None),
    ("marker-present-crlf", "# Database Backup Configuration\r\n", None),
]


@pytest.mark.parametrize(
    ("before", "after"), [c[1:] for c in ENV_CASES], ids=[c[0] for c in ENV_CASES]
)
def test_env_example_block_is_appended_once(before: str, after: str) -> None:
    """The backup block is appended unless its marker line is there; then nothing changes."""
    merged = env_text.merge_env_example(before, BLOCK)
    assert merged == (before if after is None else after)
    assert env_text.merge_env_example(merged, BLOCK) == merged


IGNORE = "# Database backups\nbackups/\nscripts/backup-config.env\n"

# name, .gitignore before, after
GITIGNORE_CASES = [
    ("empty-file", "", IGNORE),
    ("appends-both", "*.pyc\n", "*.pyc\n\n" + IGNORE),
    ("rooted-form-counts", "/backups\n/scripts/backup-config.env\n", None),
    ("glob-form-counts", "backups/*\nscripts/backup-config.env\n", None),
    ("only-missing-line-added", "node_modules/\nbackups/\n", None),
    ("negation-does-not-count", "!backups/\n", "!backups/\n\n" + IGNORE),
    ("no-trailing-newline-crlf", "a\r\nb", "a\r\nb\r\n\r\n" + IGNORE.replace("\n", "\r\n")),
]


@pytest.mark.parametrize(
    ("before", "after"), [c[1:] for c in GITIGNORE_CASES], ids=[c[0] for c in GITIGNORE_CASES]
)
def test_gitignore_gains_only_missing_patterns(before: str, after: str) -> None:
    """Patterns already ignored (in any equivalent spelling) are not repeated."""
    merged = env_text.merge_gitignore(before, IGNORE)
    if after is not None:
        assert merged == after
    assert merged.startswith(before)
    assert env_text.merge_gitignore(merged, IGNORE) == merged
    keys = {env_text.ignore_key(line) for line in merged.splitlines()}
    assert {"backups", "scripts/backup-config.env"} <= keys


def test_gitignore_adds_just_the_missing_line() -> None:
    """With backups/ already ignored, only the config line (and the comment) is added."""
    merged = env_text.merge_gitignore("node_modules/\nbackups/\n", IGNORE)
    assert merged == "node_modules/\nbackups/\n\n# Database backups\nscripts/backup-config.env\n"


# text, variables, result (None: only known where compose runs)
INTERPOLATIONS = [
    ("app", {}, "app"),
    ("${DB}", {"DB": "shop"}, "shop"),
    ("$DB-x", {"DB": "shop"}, "shop-x"),
    ("${DB:-app}", {}, "app"),
    ("${DB:-app}", {"DB": ""}, "app"),
    ("${DB-app}", {"DB": ""}, ""),
    ("${DB:?set DB}", {"DB": "shop"}, "shop"),
    ("${DB:?set DB}", {}, None),
    ("${DB}", {}, None),
    ("${DB:+yes}", {"DB": "x"}, "yes"),
    ("$$literal", {}, "$literal"),
    ("postgres:${PG:-16}-alpine", {}, "postgres:16-alpine"),
]


@pytest.mark.parametrize(("text", "variables", "result"), INTERPOLATIONS)
def test_compose_interpolation_is_resolved_like_compose(
    text: str, variables: dict[str, str], result: str | None
) -> None:
    """``$VAR``, ``${VAR:-d}``, ``${VAR-d}``, ``${VAR:?e}``, ``${VAR:+v}`` and ``$$``."""
    assert env_text.interpolate(text, variables) == result


def test_env_files_are_read_as_compose_reads_them() -> None:
    """Comments, ``export``, quotes and inline comments; malformed lines are skipped."""
    text = "# c\nexport A=1\nB='two words'\nC=\"x\"\nD=v # note\nnot a line\nE=\n"
    assert env_text.parse_env(text) == {"A": "1", "B": "two words", "C": "x", "D": "v", "E": ""}


def test_line_splitting_matches_pyyaml_line_numbers() -> None:
    """Lines are split where PyYAML counts breaks, so marks index the right line."""
    text = "a: 1\r\nb: 2\rc: 3\nd: 4\x85e: 5"
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    lines = text_edit.split_lines(text)
    assert "".join(lines) == text
    for key, _ in node.value:
        assert lines[key.start_mark.line].startswith(key.value)


def test_fragment_paths_exist_in_template() -> None:
    """The fragments the hook reads are shipped in the template."""
    fragments = (
        Path(__file__).resolve().parents[1]
        / "template"
        / "{{cookiecutter.project_slug}}"
        / "_backup_fragments"
    )
    expected = {"env.example", "env-database.example", "gitignore", "compose.yml"}
    assert {p.name for p in fragments.iterdir()} == expected
