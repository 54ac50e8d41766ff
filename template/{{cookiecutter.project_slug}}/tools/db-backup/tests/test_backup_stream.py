"""One pass over a stored backup: the checksum verdict comes first and only on a mismatch."""

from __future__ import annotations

import gzip
import hashlib
import io

import pytest

from db_backup.backup_stream import read_backup
from db_backup.errors import VerifyError

DUMP = (
    b"--\n-- PostgreSQL database dump\n--\n\n"
    b"--\n-- Data for Name: t; Type: TABLE DATA; Schema: public; Owner: -\n--\n\n"
    b"COPY public.t (id) FROM stdin;\n1\n2\n\\.\n\n"
    b"--\n-- PostgreSQL database dump complete\n--\n\n"
)
STORED = gzip.compress(DUMP)
SHA256 = hashlib.sha256(STORED).hexdigest()
OTHER_SHA256 = hashlib.sha256(b"another file").hexdigest()


def test_a_backup_matching_its_checksum_passes() -> None:
    """The digest and size reported are those of the stored bytes, read once."""
    seen = []
    report = read_backup(io.BytesIO(STORED), "t.sql.gz", SHA256, sink=seen.append)
    assert (report.sha256, report.size, report.compression) == (SHA256, len(STORED), "gzip")
    assert report.scan.complete and report.scan.rows == {"public.t": 2}
    assert b"".join(seen) == DUMP


def test_a_backup_not_matching_its_checksum_fails_the_checksum_check() -> None:
    """Even a backup that decompresses to a complete dump fails when its .sha256 disagrees."""
    with pytest.raises(VerifyError) as raised:
        read_backup(io.BytesIO(STORED), "t.sql.gz", OTHER_SHA256)
    assert raised.value.msg == "checksum: t.sql.gz does not match its .sha256"
    assert f"expected {OTHER_SHA256}" in (raised.value.detail or "")
    assert f"actual   {SHA256} ({len(STORED)} bytes)" in (raised.value.detail or "")


@pytest.mark.parametrize(
    ("expected", "check"),
    [(hashlib.sha256(DUMP).hexdigest(), "decompress"), (SHA256, "checksum")],
    ids=["checksum-matches", "checksum-differs"],
)
def test_bytes_that_are_not_compressed_fail_checksum_first(expected: str, check: str) -> None:
    """Uncompressed bytes: a matching checksum lets the decompress check speak, else it fails."""
    with pytest.raises(VerifyError) as raised:
        read_backup(io.BytesIO(DUMP), "t.sql.gz", expected)
    assert raised.value.msg.startswith(f"{check}: t.sql.gz ")
