"""The backup directory as a store: list, read, expected checksum, put with proof, delete."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from db_backup.checksums import checksum_line
from db_backup.errors import UploadError
from db_backup.storage import LocalStore

NAME = "shop_daily_20250101_000000.sql.gz"


def backup_file(directory: Path, name: str = NAME, data: bytes = b"dump", digest: str = "") -> Path:
    """A backup and its .sha256 (of ``data`` unless ``digest`` is given)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(data)
    digest = digest or hashlib.sha256(data).hexdigest()
    (directory / f"{name}.sha256").write_text(checksum_line(digest, name))
    return path


def test_lists_only_this_databases_backups_with_their_checksum_state(tmp_path: Path) -> None:
    """Other databases, checksums and stray files are not backups of this database."""
    backup_file(tmp_path)
    (tmp_path / "shop_weekly_20250102_000000.sql.zst").write_bytes(b"x")
    backup_file(tmp_path, "other_daily_20250101_000000.sql.gz")
    (tmp_path / "notes.txt").write_text("x")
    listed = LocalStore(tmp_path).list_backups("shop")
    assert [(b.filename, b.has_checksum, b.good) for b in listed] == [
        (NAME, True, True),
        ("shop_weekly_20250102_000000.sql.zst", False, False),
    ]
    assert listed[0].key == str(tmp_path / NAME) == listed[0].address


def test_open_and_expected_sha256_read_the_pair(tmp_path: Path) -> None:
    """open() gives the bytes; expected_sha256() the digest its .sha256 records."""
    backup_file(tmp_path, data=b"the dump")
    store = LocalStore(tmp_path)
    (backup,) = store.list_backups("shop")
    with store.open(backup) as stream:
        assert stream.read() == b"the dump"
    assert store.expected_sha256(backup) == hashlib.sha256(b"the dump").hexdigest()
    (tmp_path / f"{NAME}.sha256").write_text("not a digest\n")
    assert store.expected_sha256(backup) is None


def test_put_copies_a_backup_in_proven_by_its_checksum(tmp_path: Path) -> None:
    """A backup from elsewhere lands with its .sha256; nothing else is left behind."""
    source = backup_file(tmp_path / "elsewhere", data=b"payload")
    store = LocalStore(tmp_path / "backups")
    (tmp_path / "backups").mkdir()
    key = store.put(source, source.with_name(f"{NAME}.sha256"), "daily")
    assert Path(key) == tmp_path / "backups" / NAME
    assert Path(key).read_bytes() == b"payload"
    assert sorted(p.name for p in (tmp_path / "backups").iterdir()) == [NAME, f"{NAME}.sha256"]


def test_put_refuses_a_copy_that_does_not_match_and_leaves_nothing(tmp_path: Path) -> None:
    """A .sha256 that does not match the bytes: UploadError, no file in the directory."""
    source = backup_file(tmp_path / "elsewhere", data=b"payload", digest="0" * 64)
    (tmp_path / "backups").mkdir()
    with pytest.raises(UploadError, match="does not match"):
        LocalStore(tmp_path / "backups").put(source, source.with_name(f"{NAME}.sha256"), "daily")
    assert list((tmp_path / "backups").iterdir()) == []


def test_delete_removes_each_backup_with_its_checksum(tmp_path: Path) -> None:
    """Deleted in pairs; nothing is reported left."""
    backup_file(tmp_path)
    store = LocalStore(tmp_path)
    assert store.delete(store.list_backups("shop")) == {}
    assert list(tmp_path.iterdir()) == []
