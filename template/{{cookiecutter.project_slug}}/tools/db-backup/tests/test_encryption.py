"""age encryption: recipients, names, the age header, and the single pass that decrypts."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import shutil
import subprocess
from pathlib import Path

import pytest

from db_backup.backup_stream import read_backup, read_head, read_sealed
from db_backup.encryption import Encryption, check_recipients, header_stanzas, split_recipients
from db_backup.errors import ConfigError, VerifyError
from db_backup.naming import backup_filename, parse_backup_name
from db_backup.table import describe_type

DUMP = (
    b"--\n-- PostgreSQL database dump\n--\n\n"
    b"--\n-- Data for Name: t; Type: TABLE DATA; Schema: public; Owner: -\n--\n\n"
    b"COPY public.t (id) FROM stdin;\n1\n2\n\\.\n\n"
    b"--\n-- PostgreSQL database dump complete\n--\n\n"
)
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK1jOCb1yO3Jjvq7H0v0eHZcFm1sq3F1L3mH3uQ2Gx7p"

needs_age = pytest.mark.skipif(
    shutil.which("age-keygen") is None, reason="needs the age CLI (apt-get install age)"
)


def test_recipients_split_on_commas_and_blanks_with_ssh_keys_kept_whole() -> None:
    """An SSH key's type and body stay together; its comment is dropped."""
    raw = f"age1aaa, age1bbb\n{SSH_KEY} ops@example,age1ccc"
    assert split_recipients(raw) == ("age1aaa", "age1bbb", SSH_KEY, "age1ccc")
    assert split_recipients(f"{SSH_KEY} age1ddd") == (SSH_KEY, "age1ddd")
    assert split_recipients("  ") == ()


def test_the_encrypt_command_names_every_recipient_and_the_file(tmp_path: Path) -> None:
    if shutil.which("age") is None:
        pytest.skip("needs the age CLI (apt-get install age)")
    encryption = Encryption(("age1aaa", SSH_KEY), tmp_path / "recipients.txt")
    argv = encryption.encrypt_command()
    assert argv[1:] == ["-r", "age1aaa", "-r", SSH_KEY, "-R", str(tmp_path / "recipients.txt")]
    assert (
        encryption.describe() == f"2 recipients and the recipients file {tmp_path}/recipients.txt"
    )


def test_an_encrypted_backup_name_adds_age_and_is_still_a_backup_of_its_type() -> None:
    when = dt.datetime(2025, 1, 1, 2, 0, 0)
    name = backup_filename("shop", "weekly", when, compression="zstd", encrypted=True)
    assert name == "shop_weekly_20250101_020000.sql.zst.age"
    parsed = parse_backup_name("shop", name)
    assert parsed is not None and parsed.encrypted and parsed.compression == "zstd"
    assert describe_type(parsed) == "weekly encrypted"
    failed = parse_backup_name("shop", name + ".failed")
    assert failed is not None and failed.failed and failed.encrypted
    plain = parse_backup_name("shop", "shop_daily_20250101_020000.sql.gz")
    assert plain is not None and not plain.encrypted
    assert parse_backup_name("shop", "shop_daily_20250101_020000.roles.sql.age") is None


def test_the_age_header_is_counted_only_when_complete() -> None:
    header = b"age-encryption.org/v1\n-> X25519 abc\nbody\n-> ssh-ed25519 x y\nbody\n--- mac\n"
    assert header_stanzas(header + b"\x00payload") == 2
    assert header_stanzas(header[:-8]) is None
    assert header_stanzas(b"\x1f\x8b\x08") is None


@pytest.fixture
def key(tmp_path: Path) -> tuple[Path, str]:
    """An age identity file and its recipient."""
    identity = tmp_path / "key.txt"
    subprocess.run(["age-keygen", "-o", str(identity)], check=True, capture_output=True)
    recipient = subprocess.run(
        ["age-keygen", "-y", str(identity)], check=True, capture_output=True, text=True
    ).stdout.strip()
    return identity, recipient


def sealed(data: bytes, recipient: str) -> bytes:
    return subprocess.run(
        ["age", "-r", recipient], input=data, check=True, capture_output=True
    ).stdout


@needs_age
def test_one_pass_decrypts_decompresses_and_scans(key: tuple[Path, str]) -> None:
    identity, recipient = key
    stored = sealed(gzip.compress(DUMP), recipient)
    digest = hashlib.sha256(stored).hexdigest()
    seen: list[bytes] = []

    report = read_backup(
        io.BytesIO(stored), "t.sql.gz.age", digest, sink=seen.append, identity=identity
    )

    assert report.encrypted and report.compression == "gzip" and report.sha256 == digest
    assert report.scan.complete and report.scan.rows == {"public.t": 2}
    assert b"".join(seen) == DUMP


@needs_age
def test_without_the_identity_reading_is_a_config_error_and_read_sealed_checks_the_header(
    key: tuple[Path, str],
) -> None:
    _, recipient = key
    stored = sealed(gzip.compress(DUMP), recipient)
    digest = hashlib.sha256(stored).hexdigest()
    with pytest.raises(ConfigError, match="BACKUP_AGE_IDENTITY_FILE"):
        read_backup(io.BytesIO(stored), "t.sql.gz.age", digest)
    source = io.BytesIO(stored)
    report = read_sealed(source, "t.sql.gz.age", digest, read_head(source))
    assert (report.size, report.sha256, report.recipients) == (len(stored), digest, 1)


@needs_age
def test_a_wrong_identity_is_a_decrypt_failure_after_the_checksum(
    key: tuple[Path, str], tmp_path: Path
) -> None:
    _, recipient = key
    other = tmp_path / "other.txt"
    subprocess.run(["age-keygen", "-o", str(other)], check=True, capture_output=True)
    stored = sealed(gzip.compress(DUMP), recipient)
    digest = hashlib.sha256(stored).hexdigest()

    with pytest.raises(VerifyError, match=r"decrypt: .* not encrypted to the identity"):
        read_backup(io.BytesIO(stored), "t.sql.gz.age", digest, identity=other)
    with pytest.raises(VerifyError, match="checksum"):
        read_backup(io.BytesIO(stored), "t.sql.gz.age", "0" * 64, identity=other)


@needs_age
@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "no such file"),
        ("", "no secret keys found"),
        ("AGE-SECRET-KEY-1QQQ\n", "malformed secret key"),
        ("not a key\n", "unknown identity type"),
    ],
    ids=["missing", "empty", "malformed-key", "not-a-key"],
)
def test_an_identity_file_age_cannot_read_is_a_config_error_before_reading(
    key: tuple[Path, str], tmp_path: Path, content: str | None, reason: str
) -> None:
    """A setting to fix (exit 2), said at once: not a damaged backup (exit 5)."""
    _, recipient = key
    identity = tmp_path / "identity.txt"
    if content is not None:
        identity.write_text(content)
    stored = sealed(gzip.compress(DUMP), recipient)
    source = io.BytesIO(stored)

    with pytest.raises(ConfigError, match=f"BACKUP_AGE_IDENTITY_FILE .*: .*{reason}"):
        read_backup(source, "t.sql.gz.age", hashlib.sha256(stored).hexdigest(), identity=identity)


@needs_age
def test_a_malformed_recipient_is_a_config_error_naming_the_setting() -> None:
    with pytest.raises(ConfigError, match="BACKUP_AGE_RECIPIENTS: malformed recipient"):
        check_recipients(Encryption(("age1nonsense",)))


@needs_age
def test_encrypted_bytes_that_are_not_compressed_fail_decompress(key: tuple[Path, str]) -> None:
    identity, recipient = key
    stored = sealed(DUMP, recipient)
    digest = hashlib.sha256(stored).hexdigest()
    with pytest.raises(VerifyError, match=r"decompress: .* decrypts to neither gzip nor zstd"):
        read_backup(io.BytesIO(stored), "t.sql.gz.age", digest, identity=identity)


@needs_age
def test_a_large_encrypted_stream_is_read_past_its_first_chunks(key: tuple[Path, str]) -> None:
    """More than the head: the codec is read from the first chunks, the rest streams."""
    identity, recipient = key
    rows = b"".join(b"%d\n" % n for n in range(1_000_000))
    dump = DUMP.replace(b"1\n2\n", rows)
    stored = sealed(gzip.compress(dump, compresslevel=1), recipient)
    assert len(stored) > 1 << 20
    digest = hashlib.sha256(stored).hexdigest()

    report = read_backup(io.BytesIO(stored), "t.sql.gz.age", digest, identity=identity)

    assert report.scan.rows == {"public.t": 1_000_000} and report.size == len(stored)
