"""Retention as a pure function: which backups a run deletes, and the rule behind each decision."""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from db_backup import retention
from db_backup.config import read_retention
from db_backup.dry_run import print_plan
from db_backup.errors import CleanupError, ConfigError, UploadError
from db_backup.retention import DELETE, IGNORE, KEEP, Entry, RetentionPolicy
from db_backup.storage import LocalStore, StoredBackup
from db_backup.table import format_age

NOW = dt.datetime(2025, 6, 15, 12, 0, 0, tzinfo=dt.timezone.utc)
DAY = dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)
DB = "shop"


def policy(daily=7, weekly=4, monthly=12, keep_min=1) -> RetentionPolicy:
    return RetentionPolicy(daily, weekly, monthly, keep_min)


def name(backup_type: str, n: int, suffix: str = ".sql.gz", db: str = DB) -> str:
    """A contract name whose stamp sorts with ``n``."""
    return f"{db}_{backup_type}_20250101_{n:06d}{suffix}"


@dataclass
class Case:
    """Files (name, age, has checksum), a policy, and what retention must do to each."""

    id: str
    files: list[tuple[str, dt.timedelta, bool]]
    expected: dict[str, str]
    policy: RetentionPolicy = field(default_factory=policy)
    backup_type: str = "daily"
    protect: frozenset[str] = frozenset()
    rule: dict[str, str] = field(default_factory=dict)  # name -> words the rule must contain


def good(filename: str, age: dt.timedelta) -> tuple[str, dt.timedelta, bool]:
    return (filename, age, True)


def bare(filename: str, age: dt.timedelta) -> tuple[str, dt.timedelta, bool]:
    """A file without its ``.sha256`` beside it."""
    return (filename, age, False)


NEWEST = good(name("daily", 999), 0 * DAY)  # takes the keep-min place in most cases

CASES = [
    # --- ages around each boundary ---------------------------------------------------
    Case(
        "daily: exactly 7 days is kept",
        [NEWEST, good(name("daily", 1), 7 * DAY)],
        {name("daily", 1): KEEP},
        rule={name("daily", 1): "within 7 days"},
    ),
    Case(
        "daily: 7 days and 1 second is deleted",
        [NEWEST, good(name("daily", 1), 7 * DAY + SECOND)],
        {name("daily", 1): DELETE},
        rule={name("daily", 1): "older than 7 days (BACKUP_RETENTION_DAILY=7)"},
    ),
    Case(
        "daily: 1 second short of 7 days is kept",
        [NEWEST, good(name("daily", 1), 7 * DAY - SECOND)],
        {name("daily", 1): KEEP},
    ),
    Case(
        "daily: 1 day retention",
        [NEWEST, good(name("daily", 1), DAY), good(name("daily", 2), DAY + SECOND)],
        {name("daily", 1): KEEP, name("daily", 2): DELETE},
        policy=policy(daily=1),
        rule={name("daily", 2): "older than 1 day "},
    ),
    Case(
        "weekly: exactly 4 weeks (28 days) is kept, a second more is deleted",
        [
            good(name("weekly", 999), 0 * DAY),
            good(name("weekly", 1), 28 * DAY),
            good(name("weekly", 2), 28 * DAY + SECOND),
        ],
        {name("weekly", 1): KEEP, name("weekly", 2): DELETE},
        backup_type="weekly",
        rule={name("weekly", 2): "older than 4 weeks (BACKUP_RETENTION_WEEKLY=4)"},
    ),
    Case(
        "monthly: a month is 30 days, so 12 months is 360 days",
        [
            good(name("monthly", 999), 0 * DAY),
            good(name("monthly", 1), 360 * DAY),
            good(name("monthly", 2), 360 * DAY + SECOND),
            good(name("monthly", 3), 365 * DAY),
        ],
        {name("monthly", 1): KEEP, name("monthly", 2): DELETE, name("monthly", 3): DELETE},
        backup_type="monthly",
        rule={name("monthly", 2): "older than 12 months (BACKUP_RETENTION_MONTHLY=12)"},
    ),
    Case(
        "a modification time in the future is kept",
        [NEWEST, good(name("daily", 1), -3 * DAY)],
        {name("daily", 1): KEEP},
    ),
    Case(
        "the age comes from the modification time, not the time in the name",
        [NEWEST, good("shop_daily_20990101_000000.sql.gz", 30 * DAY)],
        {"shop_daily_20990101_000000.sql.gz": DELETE},
    ),
    # --- keep-min ----------------------------------------------------------------------
    Case(
        "keep-min 1: when every backup is old, the newest good one survives",
        [good(name("daily", 1), 40 * DAY), good(name("daily", 2), 30 * DAY)],
        {name("daily", 2): KEEP, name("daily", 1): DELETE},
        rule={name("daily", 2): "BACKUP_KEEP_MIN"},
    ),
    Case(
        "keep-min 3 keeps the three newest old backups",
        [good(name("daily", n), (40 - n) * DAY) for n in range(1, 6)],
        {
            name("daily", 5): KEEP,
            name("daily", 4): KEEP,
            name("daily", 3): KEEP,
            name("daily", 2): DELETE,
            name("daily", 1): DELETE,
        },
        policy=policy(keep_min=3),
    ),
    Case(
        "keep-min 0 lets every old backup go",
        [good(name("daily", 1), 40 * DAY), good(name("daily", 2), 30 * DAY)],
        {name("daily", 1): DELETE, name("daily", 2): DELETE},
        policy=policy(keep_min=0),
    ),
    Case(
        "keep-min counts young backups too: nothing old is kept once enough young ones exist",
        [NEWEST, good(name("daily", 1), 2 * DAY), good(name("daily", 2), 30 * DAY)],
        {name("daily", 2): DELETE},
        policy=policy(keep_min=2),
    ),
    Case(
        "a backup without its checksum does not count as good",
        [bare(name("daily", 2), 30 * DAY), good(name("daily", 1), 40 * DAY)],
        {name("daily", 2): DELETE, name("daily", 1): KEEP},
    ),
    Case(
        "keep-min is counted per kind: a schema-only run never costs the last full backup",
        [good(name("daily", 2, "_schema.sql.gz"), 0 * DAY), good(name("daily", 1), 30 * DAY)],
        {name("daily", 2, "_schema.sql.gz"): KEEP, name("daily", 1): KEEP},
    ),
    Case(
        "keep-min keeps the newest good schema-only backup however old",
        [
            good(name("daily", 2, "_schema.sql.gz"), 30 * DAY),
            good(name("daily", 1, "_schema.sql.gz"), 40 * DAY),
        ],
        {name("daily", 2, "_schema.sql.gz"): KEEP, name("daily", 1, "_schema.sql.gz"): DELETE},
        rule={name("daily", 2, "_schema.sql.gz"): "among the 1 newest good schema-only backups"},
    ),
    Case(
        "keep-min holds for each type independently",
        [good(name("weekly", 1), 300 * DAY), good(name("daily", 1), 300 * DAY)],
        {name("weekly", 1): KEEP, name("daily", 1): KEEP},
        backup_type="weekly",
        rule={name("weekly", 1): "BACKUP_KEEP_MIN", name("daily", 1): "daily backup"},
    ),
    # --- the backup just made ----------------------------------------------------------
    Case(
        "the backup just made is never deleted, even with an old timestamp and keep-min 0",
        [good(name("daily", 1), 99 * DAY)],
        {name("daily", 1): KEEP},
        policy=policy(keep_min=0),
        protect=frozenset({name("daily", 1)}),
        rule={name("daily", 1): "just made"},
    ),
    Case(
        "the backup just made takes the keep-min place",
        [good(name("daily", 2), 0 * DAY), good(name("daily", 1), 8 * DAY)],
        {name("daily", 2): KEEP, name("daily", 1): DELETE},
        protect=frozenset({name("daily", 2)}),
    ),
    # --- schema-only and compression ---------------------------------------------------
    Case(
        "schema-only backups of the type are pruned by the same age",
        [
            good(name("daily", 999, "_schema.sql.gz"), 0 * DAY),
            NEWEST,
            good(name("daily", 1, "_schema.sql.gz"), 8 * DAY),
        ],
        {name("daily", 1, "_schema.sql.gz"): DELETE},
    ),
    Case(
        "zstd backups are pruned like gzip ones",
        [NEWEST, good(name("daily", 1, ".sql.zst"), 8 * DAY)],
        {name("daily", 1, ".sql.zst"): DELETE},
    ),
    # --- quarantined (failed) backups ---------------------------------------------------
    Case(
        "a quarantined backup is kept for inspection and does not count toward keep-min",
        [good(name("daily", 2, ".sql.gz.failed"), 30 * DAY), good(name("daily", 1), 40 * DAY)],
        {name("daily", 2, ".sql.gz.failed"): KEEP, name("daily", 1): KEEP},
        rule={
            name("daily", 2, ".sql.gz.failed"): "quarantined",
            name("daily", 1): "BACKUP_KEEP_MIN",
        },
    ),
    Case(
        "a newer quarantined backup does not let the last good backup go",
        [good(name("daily", 2, ".sql.gz.failed"), 0 * DAY), good(name("daily", 1), 9 * DAY)],
        {name("daily", 1): KEEP},
    ),
    # --- other types and foreign files ------------------------------------------------------
    Case(
        "other types are left to their own retention",
        [NEWEST, good(name("weekly", 1), 99 * DAY), good(name("monthly", 1), 999 * DAY)],
        {name("weekly", 1): KEEP, name("monthly", 1): KEEP},
    ),
    Case(
        "files that are not this database's backups are never touched",
        [
            NEWEST,
            good(name("daily", 1, db="other"), 99 * DAY),
            good("shop_daily_daily_20250101_000001.sql.gz", 99 * DAY),  # database shop_daily
            good("shopping_daily_20250101_000001.sql.gz", 99 * DAY),
            good("notes.txt", 99 * DAY),
            good(name("daily", 1, ".sql.gz.partial"), 99 * DAY),
            good("." + name("daily", 1, ".sql.gz.tmp"), 99 * DAY),
            good(".db-backup.lock", 99 * DAY),
            good(".shop.lock", 99 * DAY),
            good("." + name("daily", 1, ".sql.gz.partial-4242"), 99 * DAY),
            good("shop.lock", 99 * DAY),
            good(name("daily", 1, ".sql"), 99 * DAY),
            good(name("hourly", 1), 99 * DAY),
            good("shop_daily_.sql.gz", 99 * DAY),
        ],
        {
            name("daily", 1, db="other"): IGNORE,
            "shop_daily_daily_20250101_000001.sql.gz": IGNORE,
            "shopping_daily_20250101_000001.sql.gz": IGNORE,
            "notes.txt": IGNORE,
            name("daily", 1, ".sql.gz.partial"): IGNORE,
            "." + name("daily", 1, ".sql.gz.tmp"): IGNORE,
            ".db-backup.lock": IGNORE,
            ".shop.lock": IGNORE,
            "." + name("daily", 1, ".sql.gz.partial-4242"): IGNORE,
            "shop.lock": IGNORE,
            name("daily", 1, ".sql"): IGNORE,
            name("hourly", 1): IGNORE,
            "shop_daily_.sql.gz": IGNORE,
        },
    ),
    Case(
        "the spec's test file name counts as one of ours",
        [NEWEST, bare("shop_daily_old.sql.gz", 10 * DAY)],
        {"shop_daily_old.sql.gz": DELETE},
    ),
    # --- zero retention --------------------------------------------------------------------
    Case(
        "a retention of 0 keeps every backup of the type",
        [NEWEST, good(name("daily", 1), 9999 * DAY), bare(name("daily", 2), 999 * DAY)],
        {name("daily", 1): KEEP, name("daily", 2): KEEP},
        policy=policy(daily=0, keep_min=0),
        rule={name("daily", 1): "keep all (BACKUP_RETENTION_DAILY=0)"},
    ),
    Case(
        "a retention of 0 for one type does not stop another type's pruning",
        [good(name("weekly", 999), 0 * DAY), good(name("weekly", 1), 29 * DAY)],
        {name("weekly", 1): DELETE},
        policy=policy(daily=0, monthly=0),
        backup_type="weekly",
    ),
]


def entries_for(files: list[tuple[str, dt.timedelta, bool]]) -> list[Entry]:
    return [
        Entry.for_name(DB, filename, NOW - age, 100, has_checksum=checksum)
        for filename, age, checksum in files
    ]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_plan_decides_each_backup_by_the_documented_rule(case: Case) -> None:
    """Each file gets exactly the expected action, for the expected reason."""
    decisions = retention.plan(
        entries_for(case.files), case.policy, case.backup_type, NOW, protect=set(case.protect)
    )
    by_name = {d.entry.filename: d for d in decisions}
    assert len(by_name) == len(case.files)
    for filename, action in case.expected.items():
        assert by_name[filename].action == action, (filename, by_name[filename].rule)
    for filename, words in case.rule.items():
        assert words in by_name[filename].rule, (filename, by_name[filename].rule)


# keep-min 0 allows pruning everything but the backup just made, so those cases are left out.
KEEP_MIN_CASES = [case for case in CASES if case.policy.keep_min >= 1]


@pytest.mark.parametrize("case", KEEP_MIN_CASES, ids=[case.id for case in KEEP_MIN_CASES])
def test_plan_never_deletes_the_last_good_backup(case: Case) -> None:
    """With keep-min at least 1, every kind of the type keeps a good backup if it had one."""
    decisions = retention.plan(
        entries_for(case.files), case.policy, case.backup_type, NOW, protect=set(case.protect)
    )
    ours = [
        d
        for d in decisions
        if d.entry.parsed and d.entry.parsed.backup_type == case.backup_type and d.entry.good
    ]
    for schema_only in (False, True):
        kind = [d for d in ours if d.entry.parsed.schema_only == schema_only]
        if kind:
            assert any(not d.delete for d in kind)


def test_plan_returns_newest_first() -> None:
    files = [good(name("daily", n), n * DAY) for n in (3, 1, 2)]
    decisions = retention.plan(entries_for(files), policy(), "daily", NOW, protect=set())
    assert [d.entry.filename for d in decisions] == [name("daily", n) for n in (1, 2, 3)]


def test_plan_rejects_an_unknown_type() -> None:
    with pytest.raises(ValueError):
        retention.plan([], policy(), "hourly", NOW, protect=set())


# --- settings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),  # the generated defaults
        (
            {"BACKUP_RETENTION_DAILY": "3", "BACKUP_RETENTION_WEEKLY": "2"},
            {"daily_days": 3, "weekly_weeks": 2},
        ),
        ({"BACKUP_RETENTION_MONTHLY": "0"}, {"monthly_months": 0}),
        ({"BACKUP_RETENTION_DAILY": " 14 "}, {"daily_days": 14}),
        ({"BACKUP_RETENTION_DAILY": ""}, None),  # blank means unset
        ({"BACKUP_KEEP_MIN": "0"}, {"keep_min": 0}),
        ({"BACKUP_KEEP_MIN": "5"}, {"keep_min": 5}),
    ],
    ids=["defaults", "explicit", "zero-keeps-all", "spaces", "blank", "keep-min-0", "keep-min-5"],
)
def test_policy_reads_the_environment(env: dict[str, str], expected: dict | None) -> None:
    from db_backup import defaults

    result = read_retention(env)
    want = {
        "daily_days": defaults.BACKUP_RETENTION_DAILY,
        "weekly_weeks": defaults.BACKUP_RETENTION_WEEKLY,
        "monthly_months": defaults.BACKUP_RETENTION_MONTHLY,
        "keep_min": 1,
    }
    want.update(expected or {})
    assert result == RetentionPolicy(**want)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BACKUP_RETENTION_DAILY", "-1"),
        ("BACKUP_RETENTION_DAILY", "seven"),
        ("BACKUP_RETENTION_DAILY", "7d"),
        ("BACKUP_RETENTION_WEEKLY", "1.5"),
        ("BACKUP_RETENTION_WEEKLY", "-4"),
        ("BACKUP_RETENTION_MONTHLY", "12 months"),
        ("BACKUP_RETENTION_MONTHLY", "99999999999"),
        ("BACKUP_KEEP_MIN", "-1"),
        ("BACKUP_KEEP_MIN", "all"),
    ],
)
def test_a_bad_value_is_a_configuration_error_naming_the_variable(
    variable: str, value: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        read_retention({variable: value})
    assert caught.value.exit_code == 2
    assert variable in caught.value.msg


@pytest.mark.parametrize(
    ("pol", "backup_type", "days"),
    [
        (policy(daily=7), "daily", 7),
        (policy(weekly=4), "weekly", 28),
        (policy(monthly=12), "monthly", 360),
        (policy(daily=0), "daily", None),
    ],
)
def test_weeks_are_7_days_and_months_30(pol: RetentionPolicy, backup_type: str, days) -> None:
    expected = None if days is None else dt.timedelta(days=days)
    assert pol.max_age(backup_type) == expected


# --- applying the plan to a directory ------------------------------------------------------


def make_file(directory: Path, filename: str, age: dt.timedelta, checksum: bool = True) -> Path:
    path = directory / filename
    path.write_bytes(b"backup")
    stamp = (NOW - age).timestamp()
    os.utime(path, (stamp, stamp))
    if checksum:
        (directory / (filename + ".sha256")).write_text(f"00  {filename}\n")
    return path


def apply(store: object, just_made: str, **kw: object) -> None:
    """Daily retention with the default test policy (``keep_min`` etc. in ``kw``)."""
    now = kw.pop("now", NOW)
    retention.apply(
        store,  # type: ignore[arg-type]
        policy(**kw),  # type: ignore[arg-type]
        "daily",
        DB,
        just_made=just_made,
        now=now,  # type: ignore[arg-type]
    )


def test_apply_local_deletes_old_backups_with_their_checksums(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    just_made = make_file(tmp_path, name("daily", 999), 0 * DAY)
    make_file(tmp_path, name("daily", 1), 8 * DAY)
    make_file(tmp_path, name("daily", 2), 6 * DAY)
    foreign = make_file(tmp_path, name("daily", 1, db="other"), 99 * DAY)
    make_file(tmp_path, "shop_daily_daily_20250101_000001.sql.gz", 99 * DAY)

    with caplog.at_level(logging.INFO, logger="db_backup"):
        apply(LocalStore(tmp_path), just_made.name)

    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [
            just_made.name,
            just_made.name + ".sha256",
            name("daily", 2),
            name("daily", 2) + ".sha256",
            foreign.name,
            foreign.name + ".sha256",
            "shop_daily_daily_20250101_000001.sql.gz",
            "shop_daily_daily_20250101_000001.sql.gz.sha256",
        ]
    )
    assert any(name("daily", 1) in r.getMessage() for r in caplog.records)


def test_apply_local_leaves_quarantined_backups_alone(tmp_path: Path) -> None:
    just_made = make_file(tmp_path, name("daily", 999), 0 * DAY)
    failed = make_file(tmp_path, name("daily", 1, ".sql.gz.failed"), 99 * DAY, checksum=False)
    (tmp_path / (name("daily", 1) + ".sha256.failed")).write_text("00  x\n")

    apply(LocalStore(tmp_path), just_made.name)

    assert failed.exists()
    assert (tmp_path / (name("daily", 1) + ".sha256.failed")).exists()


def test_apply_local_accepts_a_path_for_the_backup_just_made(tmp_path: Path) -> None:
    just_made = make_file(tmp_path, name("daily", 1), 30 * DAY)
    apply(LocalStore(tmp_path), str(just_made), keep_min=0, now=None)
    assert just_made.exists()


def _make_undeletable(path: Path) -> None:
    """Make unlinking ``path`` fail for real; root ignores permissions, so use chattr there."""
    if os.geteuid() != 0:
        path.parent.chmod(0o500)
        return
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("running as root without chattr: no way to make a deletion fail")
    result = subprocess.run([chattr, "+i", str(path)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"this file system refuses chattr +i: {result.stderr.strip()}")


def _undo_undeletable(path: Path) -> None:
    path.parent.chmod(0o700)
    if os.geteuid() == 0 and shutil.which("chattr"):
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)


def test_a_failed_deletion_raises_cleanup_error_naming_the_files_left(tmp_path: Path) -> None:
    just_made = make_file(tmp_path, name("daily", 999), 0 * DAY)
    stuck = make_file(tmp_path, name("daily", 1), 30 * DAY)
    gone = make_file(tmp_path, name("daily", 2), 30 * DAY)
    _make_undeletable(stuck)
    try:
        with pytest.raises(CleanupError) as caught:
            apply(LocalStore(tmp_path), just_made.name)
    finally:
        _undo_undeletable(stuck)
    assert caught.value.exit_code == 7
    assert stuck.name in caught.value.detail
    assert stuck.exists()
    assert Path(str(stuck) + ".sha256").exists(), "the checksum stays with a backup left behind"
    if os.geteuid() == 0:
        assert not gone.exists(), "one stuck file does not stop the others being deleted"


def test_an_empty_or_missing_directory_is_nothing_to_do(tmp_path: Path) -> None:
    apply(LocalStore(tmp_path / "missing"), "x")
    apply(LocalStore(tmp_path), "x")


# --- remote -----------------------------------------------------------------------------------


class MemoryStore:
    """A store over a dict, refusing to delete keys listed in ``stuck``."""

    location = "s3"
    label = "remote"
    deletion_hint = "check the bucket"

    def __init__(self, objects: list[StoredBackup], stuck: set[str] = frozenset()) -> None:
        self.objects = {obj.key: obj for obj in objects}
        self.stuck = set(stuck)

    def where(self, backup_type: str | None = None) -> str:
        return f"memory://backups/{backup_type}/"

    def list_backups(self, database: str, backup_type: str | None = None) -> list[StoredBackup]:
        return [
            o
            for o in self.objects.values()
            if o.key.startswith(f"backups/{backup_type}/") and o.parsed is not None
        ]

    def delete(self, objects: list[StoredBackup]) -> dict[str, str]:
        failed = {}
        for obj in objects:
            if obj.key in self.stuck:
                failed[obj.filename] = obj.key
            else:
                del self.objects[obj.key]
        return failed


def remote(filename: str, age: dt.timedelta, backup_type: str = "daily") -> StoredBackup:
    key = f"backups/{backup_type}/{filename}"
    return StoredBackup.for_name(DB, filename, NOW - age, 10, has_checksum=True, key=key)


def test_apply_remote_deletes_by_last_modified_and_keeps_foreign_objects() -> None:
    store = MemoryStore(
        [
            remote(name("daily", 999), 0 * DAY),
            remote(name("daily", 1), 8 * DAY),
            remote(name("daily", 2), 6 * DAY),
            remote(name("daily", 1, db="other"), 99 * DAY),
        ]
    )
    apply(store, name("daily", 999))
    assert sorted(o.filename for o in store.objects.values()) == sorted(
        [name("daily", 999), name("daily", 2), name("daily", 1, db="other")]
    )


def test_apply_remote_raises_cleanup_error_naming_the_keys_left() -> None:
    stuck = remote(name("daily", 1), 8 * DAY)
    store = MemoryStore([remote(name("daily", 999), 0 * DAY), stuck], stuck={stuck.key})
    with pytest.raises(CleanupError) as caught:
        apply(store, name("daily", 999))
    assert caught.value.exit_code == 7
    assert stuck.key in caught.value.detail


def test_apply_remote_turns_a_listing_failure_into_a_cleanup_error() -> None:
    """The backup is uploaded before retention runs: a bucket that cannot be listed is exit 7."""

    class UnlistableStore(MemoryStore):
        def list_backups(self, database: str, backup_type: str | None = None) -> list[StoredBackup]:
            raise UploadError("listing of s3://b/backups/daily/ failed: endpoint unreachable")

    with pytest.raises(CleanupError) as caught:
        apply(UnlistableStore([]), name("daily", 999))
    assert caught.value.exit_code == 7
    assert "endpoint unreachable" in caught.value.msg


# --- dry run -----------------------------------------------------------------------------------


def test_print_plan_shows_every_backup_with_its_rule_and_deletes_nothing(tmp_path: Path) -> None:
    make_file(tmp_path, name("daily", 1), 8 * DAY)
    make_file(tmp_path, name("daily", 2), 2 * DAY)
    make_file(tmp_path, "notes.txt", 99 * DAY, checksum=False)
    before = sorted(p.name for p in tmp_path.iterdir())
    out = io.StringIO()

    decisions = print_plan([LocalStore(tmp_path)], policy(), "daily", DB, out=out, now=NOW)

    assert sorted(p.name for p in tmp_path.iterdir()) == before
    text = out.getvalue()
    line_1 = next(line for line in text.splitlines() if name("daily", 1) in line)
    assert "DELETE" in line_1 and "older than 7 days" in line_1 and "8d 0h" in line_1
    line_2 = next(line for line in text.splitlines() if name("daily", 2) in line)
    assert "keep" in line_2 and "within 7 days" in line_2 and "6 B" in line_2
    assert "notes.txt" not in text
    assert [d.entry.filename for d in decisions if d.delete] == [name("daily", 1)]


def test_print_plan_counts_the_next_backup_toward_keep_min(tmp_path: Path) -> None:
    """The dry run shows what a real run would do, and a real run adds a backup first."""
    make_file(tmp_path, name("daily", 1), 30 * DAY)
    decisions = print_plan(
        [LocalStore(tmp_path)], policy(), "daily", DB, out=io.StringIO(), now=NOW
    )
    assert [d.entry.filename for d in decisions if d.delete] == [name("daily", 1)]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "in the future"),
        (42, "42s"),
        (125, "2m 5s"),
        (3 * 3600 + 60, "3h 1m"),
        (864_00 * 10 + 7200, "10d 2h"),
    ],
)
def test_format_age(seconds: int, text: str) -> None:
    assert format_age(dt.timedelta(seconds=seconds)) == text
