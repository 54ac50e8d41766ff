"""The post-generation merges, on strings: each edit adds only its lines, keeps every other
byte, is idempotent, and refuses (changing nothing) where a safe edit is impossible."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
import yaml

SERVICE = """\
  # db-backup runner
  db-backup:
    depends_on:
      __POSTGRES_SERVICE__:
        condition: __POSTGRES_CONDITION__
    volumes:
      - ./backups:/backups
"""


# name, compose text before, compose text after adding the mount (service not added)
MOUNT_CASES = [
    (
        "appends-to-volumes-keeping-comments",
        "# top comment\n"
        "services:\n"
        "  postgres:  # the database\n"
        "    image: postgres:16\n"
        "    volumes:\n"
        "      - data:/var/lib/postgresql/data  # keep\n"
        "      # - ./old:/old\n"
        "    ports: ['5432:5432']\n"
        "volumes:\n"
        "  data: {}\n",
        "# top comment\n"
        "services:\n"
        "  postgres:  # the database\n"
        "    image: postgres:16\n"
        "    volumes:\n"
        "      - data:/var/lib/postgresql/data  # keep\n"
        "      - ./backups:/backups\n"
        "      # - ./old:/old\n"
        "    ports: ['5432:5432']\n"
        "volumes:\n"
        "  data: {}\n",
    ),
    (
        "adds-volumes-when-postgres-has-none",
        "services:\n  postgres:\n    image: postgres:16\n    restart: always\n"
        "  app:\n    image: app\n",
        "services:\n  postgres:\n    image: postgres:16\n    restart: always\n"
        "    volumes:\n      - ./backups:/backups\n  app:\n    image: app\n",
    ),
    (
        "mount-already-present-is-untouched",
        "services:\n  postgres:\n    image: postgres\n    volumes:\n      - ./backups:/backups\n",
        "services:\n  postgres:\n    image: postgres\n    volumes:\n      - ./backups:/backups\n",
    ),
    (
        "other-source-already-mounted-at-backups-is-untouched",
        "services:\n  postgres:\n    volumes:\n      - /srv/dumps:/backups:rw\n",
        "services:\n  postgres:\n    volumes:\n      - /srv/dumps:/backups:rw\n",
    ),
    (
        "long-syntax-target-backups-is-untouched",
        "services:\n  postgres:\n    volumes:\n      - type: bind\n        source: ./b\n"
        "        target: /backups\n",
        "services:\n  postgres:\n    volumes:\n      - type: bind\n        source: ./b\n"
        "        target: /backups\n",
    ),
    (
        "long-syntax-entry-then-append-after-its-last-line",
        "services:\n  postgres:\n    volumes:\n      - type: volume\n        source: data\n"
        "        target: /var/lib/postgresql/data\n    restart: always\n",
        "services:\n  postgres:\n    volumes:\n      - type: volume\n        source: data\n"
        "        target: /var/lib/postgresql/data\n      - ./backups:/backups\n"
        "    restart: always\n",
    ),
    (
        "four-space-indentation",
        "services:\n    postgres:\n        image: postgres:16\n        volumes:\n"
        "            - data:/data\n",
        "services:\n    postgres:\n        image: postgres:16\n        volumes:\n"
        "            - data:/data\n            - ./backups:/backups\n",
    ),
    (
        "four-space-indentation-without-volumes",
        "services:\n    postgres:\n        image: postgres:16\n",
        "services:\n    postgres:\n        image: postgres:16\n        volumes:\n"
        "            - ./backups:/backups\n",
    ),
    (
        "indentless-sequence",
        "services:\n  postgres:\n    volumes:\n    - data:/data\n    image: postgres\n",
        "services:\n  postgres:\n    volumes:\n    - data:/data\n    - ./backups:/backups\n"
        "    image: postgres\n",
    ),
    (
        "crlf-line-endings-are-kept",
        "services:\r\n  postgres:\r\n    volumes:\r\n      - data:/data\r\n",
        "services:\r\n  postgres:\r\n    volumes:\r\n      - data:/data\r\n"
        "      - ./backups:/backups\r\n",
    ),
    (
        "no-trailing-newline",
        "services:\n  postgres:\n    volumes:\n      - data:/data",
        "services:\n  postgres:\n    volumes:\n      - data:/data\n      - ./backups:/backups\n",
    ),
    (
        "tab-inside-a-value-is-kept",
        "services:\n  postgres:\n    command: ['postgres', '-c', 'a=b\tc']\n    volumes:\n"
        "      #\tcomment with a tab\n      - data:/data\n",
        "services:\n  postgres:\n    command: ['postgres', '-c', 'a=b\tc']\n    volumes:\n"
        "      #\tcomment with a tab\n      - data:/data\n      - ./backups:/backups\n",
    ),
    (
        "postgres-service-found-by-image",
        "services:\n  db:\n    image: docker.io/library/postgres:16-alpine\n"
        "  web:\n    image: nginx\n",
        "services:\n  db:\n    image: docker.io/library/postgres:16-alpine\n"
        "    volumes:\n      - ./backups:/backups\n  web:\n    image: nginx\n",
    ),
    (
        "block-scalar-last-in-service",
        "services:\n  postgres:\n    command: |\n      postgres -c x=1\n\n  app:\n    image: a\n",
        "services:\n  postgres:\n    command: |\n      postgres -c x=1\n"
        "    volumes:\n      - ./backups:/backups\n\n  app:\n    image: a\n",
    ),
]


@pytest.mark.parametrize(
    ("before", "after"), [c[1:] for c in MOUNT_CASES], ids=[c[0] for c in MOUNT_CASES]
)
def test_backup_mount_is_added_once_and_nothing_else_changes(
    post_gen: ModuleType, before: str, after: str
) -> None:
    """The mount lands in the postgres service's volumes; a second merge is a no-op."""
    merged = post_gen.merge_compose(before, None)
    assert merged == after
    assert post_gen.merge_compose(merged, None) == merged
    yaml.safe_load(merged)


# name, compose text that must be refused, words the reason contains
REFUSED_CASES = [
    ("no-services", "volumes:\n  data: {}\n", "no services"),
    ("no-postgres-service", "services:\n  web:\n    image: nginx\n", "no postgres service"),
    (
        "two-postgres-images",
        "services:\n  a:\n    image: postgres:16\n  b:\n    image: postgres:15\n",
        "several services",
    ),
    ("unparsable", "services:\n  postgres:\n    image: [oops\n", "not valid YAML"),
    ("tab-indentation", "services:\n\tpostgres:\n\t\timage: postgres\n", "not valid YAML"),
    (
        "flow-style-volumes",
        "services:\n  postgres:\n    volumes: [data:/data]\n",
        "not a block list",
    ),
    ("flow-style-services", "services: {postgres: {image: postgres}}\n", "block mapping"),
    (
        "aliased-volumes",
        "x-vols: &vols\n  - data:/data\nservices:\n  postgres:\n    volumes: *vols\n",
        "anchor or alias",
    ),
    (
        "anchored-volumes-shared-with-another-service",
        "services:\n  postgres:\n    volumes: &vols\n      - data:/data\n  other:\n"
        "    volumes: *vols\n",
        "anchor or alias",
    ),
    (
        "merge-key-in-service",
        "x-base: &base\n  image: postgres\nservices:\n  postgres:\n    <<: *base\n",
        "merge key",
    ),
    ("list-at-top-level", "- services\n", "block mapping"),
    ("empty-file", "", "block mapping"),
]


@pytest.mark.parametrize(
    ("text", "reason"), [c[1:] for c in REFUSED_CASES], ids=[c[0] for c in REFUSED_CASES]
)
def test_compose_that_cannot_be_merged_safely_is_refused(
    post_gen: ModuleType, text: str, reason: str
) -> None:
    """An unsafe compose edit raises CannotMerge saying why (the caller then changes nothing)."""
    with pytest.raises(post_gen.CannotMerge, match=reason):
        post_gen.merge_compose(text, SERVICE)


def test_backup_service_is_appended_to_services_with_the_postgres_name(
    post_gen: ModuleType,
) -> None:
    """db-backup goes at the end of services, before the next top-level key, pointing at the
    postgres service by its name; the condition follows whether it has a healthcheck."""
    before = (
        "services:\n  db:\n    image: postgres:16\n    healthcheck:\n      test: ['CMD', 'true']\n"
        "    volumes:\n      - data:/data\n  web:\n    image: nginx  # front\n\n"
        "volumes:\n  data:\n"
    )
    expected = (
        "services:\n  db:\n    image: postgres:16\n    healthcheck:\n      test: ['CMD', 'true']\n"
        "    volumes:\n      - data:/data\n      - ./backups:/backups\n"
        "  web:\n    image: nginx  # front\n"
        "  # db-backup runner\n  db-backup:\n    depends_on:\n      db:\n"
        "        condition: service_healthy\n    volumes:\n      - ./backups:/backups\n"
        "\nvolumes:\n  data:\n"
    )
    merged = post_gen.merge_compose(before, SERVICE)
    assert merged == expected
    assert post_gen.merge_compose(merged, SERVICE) == merged


def test_backup_service_follows_four_space_indentation(post_gen: ModuleType) -> None:
    """The added service uses the file's own indentation step."""
    before = (
        "services:\n    postgres:\n        image: postgres\n        volumes:\n            - d:/d\n"
    )
    merged = post_gen.merge_compose(before, SERVICE)
    assert merged.endswith(
        "    # db-backup runner\n    db-backup:\n        depends_on:\n            postgres:\n"
        "                condition: service_started\n        volumes:\n"
        "            - ./backups:/backups\n"
    )
    assert yaml.safe_load(merged)["services"]["db-backup"]["depends_on"] == {
        "postgres": {"condition": "service_started"}
    }


def test_existing_backup_service_is_left_alone(post_gen: ModuleType) -> None:
    """A project that already has a db-backup service keeps its own."""
    before = (
        "services:\n  postgres:\n    volumes:\n      - ./backups:/backups\n"
        "  db-backup:\n    image: mine\n"
    )
    assert post_gen.merge_compose(before, SERVICE) == before


def test_backup_service_is_refused_when_postgres_uses_its_own_networks(
    post_gen: ModuleType,
) -> None:
    """db-backup could not reach a postgres on a custom network, so nothing is changed."""
    text = "services:\n  postgres:\n    networks: [backend]\n    volumes:\n      - d:/d\n"
    with pytest.raises(post_gen.CannotMerge, match="networks"):
        post_gen.merge_compose(text, SERVICE)


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
def test_env_example_block_is_appended_once(post_gen: ModuleType, before: str, after: str) -> None:
    """The backup block is appended unless its marker line is there; then nothing changes."""
    merged = post_gen.merge_env_example(before, BLOCK)
    assert merged == (before if after is None else after)
    assert post_gen.merge_env_example(merged, BLOCK) == merged


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
def test_gitignore_gains_only_missing_patterns(
    post_gen: ModuleType, before: str, after: str
) -> None:
    """Patterns already ignored (in any equivalent spelling) are not repeated."""
    merged = post_gen.merge_gitignore(before, IGNORE)
    if after is not None:
        assert merged == after
    assert merged.startswith(before)
    assert post_gen.merge_gitignore(merged, IGNORE) == merged
    keys = {post_gen.ignore_key(line) for line in merged.splitlines()}
    assert {"backups", "scripts/backup-config.env"} <= keys


def test_gitignore_adds_just_the_missing_line(post_gen: ModuleType) -> None:
    """With backups/ already ignored, only the config line (and the comment) is added."""
    merged = post_gen.merge_gitignore("node_modules/\nbackups/\n", IGNORE)
    assert merged == "node_modules/\nbackups/\n\n# Database backups\nscripts/backup-config.env\n"


def test_line_splitting_matches_pyyaml_line_numbers(post_gen: ModuleType) -> None:
    """Lines are split where PyYAML counts breaks, so marks index the right line."""
    text = "a: 1\r\nb: 2\rc: 3\nd: 4\x85e: 5"
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    lines = post_gen.split_lines(text)
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
    expected = {"env.example", "gitignore", "compose.yml", "compose-db-backup-service.yml"}
    assert {p.name for p in fragments.iterdir()} == expected


REAL_SERVICE = (
    Path(__file__).resolve().parents[1]
    / "template"
    / "{{cookiecutter.project_slug}}"
    / "_backup_fragments"
    / "compose-db-backup-service.yml"
).read_text(encoding="utf-8")


@pytest.mark.parametrize("indent", [2, 3, 4, 8])
def test_shipped_service_comes_out_the_same_at_any_indentation(
    post_gen: ModuleType, indent: int
) -> None:
    """The shipped db-backup service, re-indented to the file's step, parses to the same data."""
    pad = " " * indent
    before = f"services:\n{pad}postgres:\n{pad * 2}image: postgres:16\n"
    merged = post_gen.merge_compose(before, REAL_SERVICE)
    two_space = post_gen.merge_compose(
        "services:\n  postgres:\n    image: postgres:16\n", REAL_SERVICE
    )
    assert yaml.safe_load(merged) == yaml.safe_load(two_space)
    assert post_gen.merge_compose(merged, REAL_SERVICE) == merged


def test_an_edit_that_would_change_other_data_is_refused(
    post_gen: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parse-and-compare guard refuses an edit that alters anything but the backup lines."""
    text = "services:\n  postgres:\n    volumes:\n      - data:/data\n    image: postgres\n"
    monkeypatch.setattr(post_gen, "BACKUP_MOUNT", "./backups:/backups\n    image: other")
    with pytest.raises(post_gen.CannotMerge):
        post_gen.merge_compose(text, None)


def test_a_service_that_would_not_come_out_as_written_is_refused(
    post_gen: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If re-indenting garbled the service, nothing is written."""
    text = "services:\n    postgres:\n        image: postgres\n"
    monkeypatch.setattr(post_gen, "reindent", lambda snippet, base, step: ["    db-backup: {}"])
    with pytest.raises(post_gen.CannotMerge, match="would not come out as written"):
        post_gen.merge_compose(text, REAL_SERVICE)
