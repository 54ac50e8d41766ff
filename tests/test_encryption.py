"""Backups encrypted with age in the stream: proven restorable, and never plaintext at rest.

Every backup here is made by the baked project's own ``scripts/db-backup.sh`` against the
session's real PostgreSQL (and, for the S3 cases, the real S3 endpoint), with keys made by
``age-keygen`` and ``ssh-keygen``. The identity is given only to the runs that verify or
restore, as on a host where the private key lives.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import secrets
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.backup_support import DAY, age_file, backdate_object, error_lines, fake_backup
from tests.helpers import describe, program_dir, run_tool, start_tool
from tests.restore_support import (
    CHECKS_FAILED,
    CONFIG_ERROR,
    RESTORED,
    all_databases,
    databases_like,
    run_restore,
)
from tests.services.postgres import PostgresServer
from tests.services.s3 import S3Endpoint

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("age") is None, reason="needs the age CLI (apt-get install age)"
    ),
]

AGE_HEADER = b"age-encryption.org/v1\n"
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
VERIFY_FAILED = CHECKS_FAILED


@dataclass(frozen=True)
class Key:
    """An age identity file and its recipient (public key)."""

    identity: Path
    recipient: str


def age_key(directory: Path, name: str) -> Key:
    """A new X25519 identity made by ``age-keygen``."""
    identity = directory / f"{name}.txt"
    subprocess.run(["age-keygen", "-o", str(identity)], check=True, capture_output=True)
    recipient = subprocess.run(
        ["age-keygen", "-y", str(identity)], check=True, capture_output=True, text=True
    ).stdout.strip()
    return Key(identity, recipient)


def ssh_key(directory: Path, name: str) -> Key:
    """A new ed25519 SSH key by ``ssh-keygen``; its public line (comment too) is the recipient."""
    if shutil.which("ssh-keygen") is None:
        pytest.skip("needs ssh-keygen (apt-get install openssh-client) for an SSH recipient")
    identity = directory / name
    subprocess.run(
        [
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "backup@example",
            "-f",
            str(identity),
        ],
        check=True,
        capture_output=True,
    )
    return Key(identity, identity.with_suffix(".pub").read_text().strip())


@pytest.fixture
def keys(tmp_path: Path) -> Callable[[str], Key]:
    """Factory: ``keys(name)`` -> a new age key in a directory outside the project."""
    directory = tmp_path / "keys"
    directory.mkdir()
    return lambda name: age_key(directory, name)


def with_marker(postgres: PostgresServer, dbname: str) -> str:
    """Add a row holding a unique marker string to ``dbname``; return the marker."""
    marker = f"PLAINTEXT-MARKER-{secrets.token_hex(8)}"
    postgres.psql(f"CREATE TABLE public.secret_note AS SELECT '{marker}'::text AS note", dbname)
    return marker


def encrypted_backups(directory: Path) -> list[str]:
    """Names of finished encrypted backups in ``directory``, sorted."""
    if not directory.is_dir():
        return []
    return sorted(
        p.name
        for p in directory.iterdir()
        if p.name.endswith((".sql.gz.age", ".sql.zst.age")) and not p.name.startswith(".")
    )


def plaintext_found(data: bytes, marker: bytes) -> bool:
    """Whether ``data`` shows ``marker`` as is or once decompressed (gzip or zstd)."""
    if marker in data:
        return True
    if data.startswith(GZIP_MAGIC):
        try:
            return marker in gzip.decompress(data)
        except (OSError, EOFError):
            return True  # compressed, unreadable: a half-written plaintext dump
    return data.startswith(ZSTD_MAGIC)  # nothing plain may be compressed here


def leaks_in(directory: Path, marker: bytes) -> list[str]:
    """Files under ``directory`` whose bytes hold the marker or that are compressed plaintext."""
    leaks = []
    for path in directory.rglob("*"):
        try:
            if path.is_file() and plaintext_found(path.read_bytes(), marker):
                leaks.append(path.name)
        except FileNotFoundError:  # renamed or removed while looking
            continue
    return leaks


def unsealed_files(directory: Path) -> list[str]:
    """Files under ``directory`` (checksums and locks aside) that do not start as age output.

    A ``.sha256`` is also seen under its temporary name (``.<name>.sha256.tmp-...``) while
    it is written atomically.
    """
    found = []
    for path in directory.rglob("*"):
        if ".sha256" in path.name or path.name.endswith(".lock") or not path.is_file():
            continue
        try:
            head = path.read_bytes()[: len(AGE_HEADER)]
        except FileNotFoundError:  # renamed or removed while looking
            continue
        if not AGE_HEADER.startswith(head):  # a file being written may hold less so far
            found.append(path.name)
    return found


def bucket_leaks(s3: S3Endpoint, bucket: str, marker: bytes) -> list[str]:
    """Objects in ``bucket`` whose bytes hold the marker or that are compressed plaintext."""
    client = s3.client()
    leaks = []
    for key in s3.list_keys(bucket):
        try:
            data = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except client.exceptions.NoSuchKey:  # deleted since the listing (a probe, a retry)
            continue
        # The .sha256 lines and the preflight's write probe hold no data of the database.
        exempt = key.endswith(".sha256") or "/.db-backup-preflight-" in key
        plain = not exempt and not data.startswith(AGE_HEADER)
        if plain or plaintext_found(data, marker):
            leaks.append(key)
    return leaks


def restore_by_hand(postgres: PostgresServer, backup: Path, identity: Path, target: str) -> None:
    """The README's manual recipe: ``age -d -i key | gunzip | psql`` into a new database."""
    postgres.create_database(target)
    psql = shlex.join(postgres.psql_command(target))
    command = (
        f"set -o pipefail; age -d -i '{identity}' '{backup}' | gunzip -c | "
        f"{psql} -v ON_ERROR_STOP=1 --single-transaction -q >/dev/null"
    )
    done = subprocess.run(
        ["bash", "-c", command],
        env=postgres.psql_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def assert_same_content(postgres: PostgresServer, restored: str, source: str) -> None:
    """Rows (count and hash per table) and sequence states are those of the source."""
    assert postgres.table_fingerprints(restored) == postgres.table_fingerprints(source)
    assert postgres.sequence_states(restored) == postgres.sequence_states(source)


def headline(stderr: str) -> str:
    """The one ``[ERROR]`` message of a failed run (its ``detail:``/``hint:`` lines aside)."""
    messages = [
        line
        for line in error_lines(stderr)
        if not line.split("] [ERROR] ", 1)[1].startswith(("detail:", "hint:"))
    ]
    assert len(messages) == 1, stderr
    return messages[0]


def warnings_of(output: str) -> list[str]:
    """The ``[WARNING]`` log lines of a run."""
    return [line for line in output.splitlines() if "] [WARNING] " in line]


# -- end to end ------------------------------------------------------------------------------


@pytest.mark.slow
def test_an_encrypted_pagila_backup_restores_identical_and_nothing_plain_is_ever_stored(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    s3: S3Endpoint,
    bucket: str,
    keys: Callable[[str], Key],
    cleanup: list[str],
) -> None:
    """Backup with upload, watched while it runs; then db-restore.sh and the manual recipe."""
    source = database("pagila")
    marker = with_marker(postgres, source).encode()
    key = keys("main")
    backups = baked_project / "backups"
    env = {
        **postgres.env(source),
        **s3.env(bucket),
        "BACKUP_AGE_RECIPIENTS": key.recipient,
        "BACKUP_COMPRESSION": "gzip",
    }

    run = start_tool(baked_project, ["--verify"], env)
    seen_leaks: set[str] = set()
    while run.poll() is None:  # look at every file while the dump is being written
        seen_leaks.update(leaks_in(backups, marker))
        seen_leaks.update(unsealed_files(backups))
        seen_leaks.update(bucket_leaks(s3, bucket, marker))
        time.sleep(0.05)
    stdout, stderr = run.communicate()
    assert run.returncode == 0, f"{stdout}\n{stderr}"
    seen_leaks.update(leaks_in(backups, marker))
    seen_leaks.update(unsealed_files(backups))
    seen_leaks.update(bucket_leaks(s3, bucket, marker))
    assert seen_leaks == set()
    roles = [p.name for p in backups.iterdir() if ".roles." in p.name]
    assert all(".roles.sql.age" in n for n in roles), roles

    (name,) = encrypted_backups(backups)
    assert name.startswith(f"{source}_daily_") and name.endswith(".sql.gz.age")
    backup = backups / name
    assert backup.read_bytes().startswith(AGE_HEADER)
    line = (backups / f"{name}.sha256").read_text()
    assert (
        subprocess.run(
            ["sha256sum", "-c", "--quiet"], input=line, text=True, cwd=backups
        ).returncode
        == 0
    )
    keys_in_bucket = s3.list_keys(bucket)
    assert f"backups/daily/{name}" in keys_in_bucket, keys_in_bucket
    assert not [k for k in keys_in_bucket if k.endswith(".sql.gz")], keys_in_bucket

    cleanup.append(f"{source}_restored_*")
    restored = run_restore(
        baked_project, ["--with-roles"], {**env, "BACKUP_AGE_IDENTITY_FILE": str(key.identity)}
    )
    assert restored.returncode == RESTORED, describe(restored)
    assert name in restored.stdout, describe(restored)
    (target,) = databases_like(postgres, f"{source}_restored_")
    assert_same_content(postgres, target, source)
    assert leaks_in(backups, marker) == []

    by_hand = f"{source}_by_hand"
    cleanup.append(by_hand)
    restore_by_hand(postgres, backup, key.identity, by_hand)
    assert_same_content(postgres, by_hand, source)


def test_an_encrypted_backup_from_s3_restores_with_the_identity(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    s3: S3Endpoint,
    bucket: str,
    keys: Callable[[str], Key],
    cleanup: list[str],
) -> None:
    """Only the bucket holds it: --verify-remote and db-restore --from=s3 stream and decrypt."""
    source = database("small")
    marker = with_marker(postgres, source).encode()
    key = keys("main")
    env = {**postgres.env(source), **s3.env(bucket), "BACKUP_AGE_RECIPIENTS": key.recipient}
    made = run_tool(baked_project, [], env)
    assert made.returncode == 0, describe(made)
    for item in (baked_project / "backups").iterdir():
        if not item.name.startswith("."):
            item.unlink()
    assert bucket_leaks(s3, bucket, marker) == []
    with_identity = {**env, "BACKUP_AGE_IDENTITY_FILE": str(key.identity)}

    drill = run_tool(baked_project, ["--verify-remote"], with_identity)
    assert drill.returncode == 0, describe(drill)
    assert "restores: " in drill.stdout, describe(drill)

    cleanup.append(f"{source}_restored_*")
    restored = run_restore(baked_project, ["--from=s3"], with_identity)
    assert restored.returncode == RESTORED, describe(restored)
    (target,) = databases_like(postgres, f"{source}_restored_")
    assert_same_content(postgres, target, source)


# -- verify with and without the identity ---------------------------------------------------


@pytest.fixture
def sealed(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    keys: Callable[[str], Key],
) -> tuple[Path, dict[str, str], Key]:
    """One encrypted backup of a small database: (its path, the run's env, its key)."""
    source = database("small")
    key = keys("main")
    env = {**postgres.env(source), "BACKUP_AGE_RECIPIENTS": key.recipient}
    made = run_tool(baked_project, [], env)
    assert made.returncode == 0, describe(made)
    (name,) = encrypted_backups(baked_project / "backups")
    return baked_project / "backups" / name, env, key


def test_verify_without_the_identity_checks_checksum_and_header_and_warns_once(
    baked_project: Path, sealed: tuple[Path, dict[str, str], Key]
) -> None:
    """auto: exit 0, one WARN naming the identity; always: exit 5, the file kept as it is."""
    backup, env, _ = sealed

    auto = run_tool(baked_project, ["--verify-file", str(backup)], env)
    assert auto.returncode == 0, describe(auto)
    (warning,) = warnings_of(auto.stdout + auto.stderr)
    assert "BACKUP_AGE_IDENTITY_FILE" in warning and "test restore" in warning
    assert "checksum ok" in auto.stdout, describe(auto)

    always = run_tool(
        baked_project, ["--verify-file", str(backup)], {**env, "BACKUP_VERIFY_RESTORE": "always"}
    )
    assert always.returncode == VERIFY_FAILED, describe(always)
    error = headline(always.stderr)
    assert "BACKUP_AGE_IDENTITY_FILE" in error
    assert backup.exists()


def test_a_damaged_encrypted_backup_fails_verify_without_the_identity(
    baked_project: Path, sealed: tuple[Path, dict[str, str], Key]
) -> None:
    """The checksum still covers the encrypted bytes: one flipped byte is exit 5."""
    backup, env, _ = sealed
    data = bytearray(backup.read_bytes())
    data[len(data) // 2] ^= 0xFF
    backup.write_bytes(bytes(data))

    result = run_tool(baked_project, ["--verify-file", str(backup)], env)

    assert result.returncode == VERIFY_FAILED, describe(result)
    assert "does not match its .sha256" in result.stderr, describe(result)


def test_verify_with_the_identity_decrypts_and_test_restores(
    baked_project: Path, sealed: tuple[Path, dict[str, str], Key]
) -> None:
    """With BACKUP_AGE_IDENTITY_FILE: the whole check, test restore included, no warning."""
    backup, env, key = sealed
    result = run_tool(
        baked_project,
        ["--verify-file", str(backup)],
        {**env, "BACKUP_AGE_IDENTITY_FILE": str(key.identity), "BACKUP_VERIFY_RESTORE": "always"},
    )
    assert result.returncode == 0, describe(result)
    assert f"Backup verification passed: {backup.name} restores: " in result.stdout
    assert warnings_of(result.stdout + result.stderr) == []


def test_a_backup_run_with_verify_always_and_no_identity_keeps_the_backup_and_exits_5(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    keys: Callable[[str], Key],
) -> None:
    """Nothing is wrong with the file: it keeps its name (no .failed), the run says why."""
    source = database("small")
    key = keys("main")
    env = {
        **postgres.env(source),
        "BACKUP_AGE_RECIPIENTS": key.recipient,
        "BACKUP_VERIFY_RESTORE": "always",
    }
    result = run_tool(baked_project, ["--verify"], env)

    assert result.returncode == VERIFY_FAILED, describe(result)
    assert len(encrypted_backups(baked_project / "backups")) == 1
    assert not [p for p in (baked_project / "backups").iterdir() if p.name.endswith(".failed")]


def test_a_wrong_identity_is_exit_5_with_one_clear_line_and_no_database_left(
    baked_project: Path,
    postgres: PostgresServer,
    sealed: tuple[Path, dict[str, str], Key],
    keys: Callable[[str], Key],
) -> None:
    """Verify and restore with someone else's key: exit 5 naming the identity; nothing created."""
    backup, env, _ = sealed
    other = keys("other")
    wrong = {**env, "BACKUP_AGE_IDENTITY_FILE": str(other.identity)}
    before = all_databases(postgres)

    verified = run_tool(baked_project, ["--verify-file", str(backup)], wrong)
    restored = run_restore(baked_project, [backup.name], wrong)

    for result in (verified, restored):
        assert result.returncode == VERIFY_FAILED, describe(result)
        error = headline(result.stderr)
        assert "not encrypted to the identity" in error and str(other.identity) in error
    assert all_databases(postgres) == before


def test_an_identity_file_age_cannot_read_is_exit_2_before_anything_is_created(
    baked_project: Path,
    postgres: PostgresServer,
    sealed: tuple[Path, dict[str, str], Key],
    tmp_path: Path,
) -> None:
    """A malformed identity is a setting to fix: one line naming it, no database touched."""
    backup, env, _ = sealed
    identity = tmp_path / "pasted-wrong.txt"
    identity.write_text("AGE-SECRET-KEY-1-this-is-not-a-key\n")
    broken = {**env, "BACKUP_AGE_IDENTITY_FILE": str(identity)}
    before = all_databases(postgres)

    verified = run_tool(baked_project, ["--verify-file", str(backup)], broken)
    restored = run_restore(baked_project, [backup.name], broken)

    for result in (verified, restored):
        assert result.returncode == CONFIG_ERROR, describe(result)
        error = headline(result.stderr)
        assert "BACKUP_AGE_IDENTITY_FILE" in error and "malformed secret key" in error, error
    assert all_databases(postgres) == before
    assert backup.exists(), "the backup keeps its name: nothing is wrong with it"


def test_restoring_an_encrypted_backup_without_the_identity_is_a_config_error(
    baked_project: Path, postgres: PostgresServer, sealed: tuple[Path, dict[str, str], Key]
) -> None:
    """Exit 2 before any database is created, naming the setting."""
    backup, env, _ = sealed
    before = all_databases(postgres)

    result = run_restore(baked_project, [backup.name], env)

    assert result.returncode == CONFIG_ERROR, describe(result)
    assert "BACKUP_AGE_IDENTITY_FILE" in result.stderr
    assert all_databases(postgres) == before


# -- recipients -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "recipients",
    [
        "age1notakey",
        "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8q",  # bad checksum
        "ssh-ed25519 AAAAnotbase64!",
    ],
)
def test_a_malformed_recipient_is_exit_2_before_any_dump(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    recipients: str,
) -> None:
    """age's own check of the key, before pg_dump runs: one error line, nothing written."""
    source = database("small")
    env = {**postgres.env(source), "BACKUP_AGE_RECIPIENTS": recipients}

    result = run_tool(baked_project, [], env)

    assert result.returncode == CONFIG_ERROR, describe(result)
    error = headline(result.stderr)
    assert "BACKUP_AGE_RECIPIENTS" in error
    assert "Creating" not in result.stdout
    backups = baked_project / "backups"
    assert not backups.exists() or [p.name for p in backups.iterdir() if ".sql" in p.name] == []


def test_a_missing_age_program_is_exit_2_before_any_dump(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    keys: Callable[[str], Key],
    tmp_path: Path,
) -> None:
    """Recipients set, no age on PATH: exit 2 saying what to install."""
    source = database("small")
    path = program_dir(
        tmp_path / "bin",
        links={
            "pg_dump": postgres.program("pg_dump"),
            "pg_dumpall": postgres.program("pg_dumpall"),
            "psql": postgres.program("psql"),
            "gzip": shutil.which("gzip") or "/bin/gzip",
        },
    )
    env = {**postgres.env(source), "BACKUP_AGE_RECIPIENTS": keys("k").recipient, "PATH": path}

    result = run_tool(baked_project, [], env)

    assert result.returncode == CONFIG_ERROR, describe(result)
    error = headline(result.stderr)
    assert "age is required" in error
    assert "apt-get install age" in result.stderr
    assert encrypted_backups(baked_project / "backups") == []


def test_an_ssh_ed25519_recipient_encrypts_and_its_key_restores(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    cleanup: list[str],
    tmp_path: Path,
) -> None:
    """An ``ssh-ed25519 AAAA... comment`` line as the recipient; the SSH private key decrypts."""
    source = database("small")
    key = ssh_key(tmp_path, "id_backup")
    env = {**postgres.env(source), "BACKUP_AGE_RECIPIENTS": key.recipient}
    made = run_tool(baked_project, [], env)
    assert made.returncode == 0, describe(made)
    (name,) = encrypted_backups(baked_project / "backups")

    cleanup.append("ssh_restored")
    restored = run_restore(
        baked_project,
        [name, "--target=ssh_restored"],
        {**env, "BACKUP_AGE_IDENTITY_FILE": str(key.identity)},
    )
    assert restored.returncode == RESTORED, describe(restored)
    assert_same_content(postgres, "ssh_restored", source)


def test_two_recipients_either_identity_restores(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    keys: Callable[[str], Key],
    cleanup: list[str],
    tmp_path: Path,
) -> None:
    """Key rotation / break-glass: a key inline and one in a recipients file; each restores."""
    source = database("small")
    current, break_glass = keys("current"), keys("break-glass")
    recipients_file = tmp_path / "recipients.txt"
    recipients_file.write_text(f"# break-glass key, kept offline\n{break_glass.recipient}\n")
    env = {
        **postgres.env(source),
        "BACKUP_AGE_RECIPIENTS": current.recipient,
        "BACKUP_AGE_RECIPIENTS_FILE": str(recipients_file),
        "BACKUP_COMPRESSION": "zstd",
    }
    made = run_tool(baked_project, [], env)
    assert made.returncode == 0, describe(made)
    (name,) = encrypted_backups(baked_project / "backups")
    assert name.endswith(".sql.zst.age")

    for index, key in enumerate((current, break_glass)):
        target = f"rotation_{index}"
        cleanup.append(target)
        restored = run_restore(
            baked_project,
            [name, f"--target={target}"],
            {**env, "BACKUP_AGE_IDENTITY_FILE": str(key.identity)},
        )
        assert restored.returncode == RESTORED, describe(restored)
        assert_same_content(postgres, target, source)


# -- listing and retention --------------------------------------------------------------------


def stamp(n: int) -> str:
    """A contract timestamp in the past that sorts with ``n``."""
    return f"20200101_{n:06d}"


def fake_sealed(directory: Path, filename: str, age: dt.timedelta) -> Path:
    """A small file named like an encrypted backup, with its ``.sha256``, ``age`` old."""
    path = fake_backup(directory, filename, age)
    data = AGE_HEADER + b"-> X25519 stand-in\n--- mac\n" + os.urandom(64)
    path.write_bytes(data)
    digest = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True).stdout
    path.with_name(filename + ".sha256").write_text(f"{digest.split()[0]}  {filename}\n")
    age_file(path, age)
    return path


def test_local_retention_and_listing_count_encrypted_backups_beside_plain_ones(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    keys: Callable[[str], Key],
    tmp_path: Path,
) -> None:
    """Old .age and old plain backups go; young ones stay; --list marks the encrypted ones."""
    source = database("small")
    backups = tmp_path / "backups"
    old_sealed = fake_sealed(backups, f"{source}_daily_{stamp(1)}.sql.gz.age", 10 * DAY)
    young_sealed = fake_sealed(backups, f"{source}_daily_{stamp(2)}.sql.zst.age", 2 * DAY)
    old_plain = fake_backup(backups, f"{source}_daily_{stamp(3)}.sql.gz", 10 * DAY)
    young_plain = fake_backup(backups, f"{source}_daily_{stamp(4)}.sql.gz", 2 * DAY)
    foreign = fake_sealed(backups, f"other_daily_{stamp(1)}.sql.gz.age", 99 * DAY)
    env = {
        **postgres.env(source),
        "BACKUP_DIR": str(backups),
        "BACKUP_RETENTION_DAILY": "7",
        "BACKUP_AGE_RECIPIENTS": keys("k").recipient,
    }

    result = run_tool(baked_project, [], env)

    assert result.returncode == 0, describe(result)
    left = {p.name for p in backups.iterdir()}
    assert old_sealed.name not in left and f"{old_sealed.name}.sha256" not in left
    assert old_plain.name not in left
    assert {young_sealed.name, young_plain.name, foreign.name} <= left
    (new,) = set(encrypted_backups(backups)) - {young_sealed.name, foreign.name}

    listing = run_tool(baked_project, ["--list"], env)
    assert listing.returncode == 0, describe(listing)
    rows = {line.split()[-1]: line for line in listing.stdout.splitlines() if source in line}
    assert "encrypted" in rows[new] and "encrypted" in rows[young_sealed.name]
    assert "encrypted" not in rows[young_plain.name]
    assert "3 backup(s)" in listing.stdout, listing.stdout


def test_remote_retention_and_listing_count_encrypted_objects(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    s3: S3Endpoint,
    bucket: str,
    keys: Callable[[str], Key],
    tmp_path: Path,
) -> None:
    """In the bucket: old .age objects go with their .sha256, young ones stay and are listed."""
    source = database("small")
    client = s3.client()
    old = f"backups/daily/{source}_daily_{stamp(1)}.sql.gz.age"
    young = f"backups/daily/{source}_daily_{stamp(2)}.sql.gz.age"
    for key, age in ((old, 10 * DAY), (young, 2 * DAY)):
        client.put_object(Bucket=bucket, Key=key, Body=AGE_HEADER + b"-> X25519 x\n--- m\n")
        client.put_object(Bucket=bucket, Key=f"{key}.sha256", Body=b"0" * 64 + b"  x\n")
        backdate_object(s3, bucket, key, age)
        backdate_object(s3, bucket, f"{key}.sha256", age)
    env = {
        **postgres.env(source),
        **s3.env(bucket),
        "BACKUP_DIR": str(tmp_path / "backups"),
        "BACKUP_RETENTION_DAILY": "7",
        "BACKUP_AGE_RECIPIENTS": keys("k").recipient,
    }

    result = run_tool(baked_project, [], env)

    assert result.returncode == 0, describe(result)
    remote = set(s3.list_keys(bucket))
    assert old not in remote and f"{old}.sha256" not in remote
    assert {young, f"{young}.sha256"} <= remote
    uploaded = [k for k in remote if k.endswith(".sql.gz.age") and k not in (old, young)]
    assert len(uploaded) == 1, sorted(remote)

    listing = run_tool(baked_project, ["--list"], env)
    assert listing.returncode == 0, describe(listing)
    remote_rows = [line for line in listing.stdout.splitlines() if line.startswith("s3")]
    assert len(remote_rows) == 2 and all("encrypted" in line for line in remote_rows)
