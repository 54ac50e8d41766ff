"""Read a plain-format pg_dump as it streams by and record what it promises.

The scanner is fed the decompressed bytes in chunks of any size (lines may be
split anywhere) and keeps only a bounded amount of them. It records:

* the ``-- PostgreSQL database dump`` header and whether the
  ``-- PostgreSQL database dump complete`` trailer is the last thing written
  (only blank lines, ``--`` and ``\\unrestrict KEY`` may follow it);
* the ``\\restrict KEY`` / ``\\unrestrict KEY`` pair of pg_dump 15.14 and later;
* the rows of every ``COPY ... FROM stdin;`` block, per target table;
* the tables, views, materialized views, sequences and routines the dump
  creates, from the ``-- Name: x; Type: T; Schema: s`` headers pg_dump writes
  above every object.

COPY data, nearly all of a big dump, is never split into lines in Python:
the scanner looks for the ``\\.`` end marker with ``bytes.find`` and counts
rows with ``bytes.count``. Only the SQL between COPY blocks is looked at line
by line, and there only the lines that start with ``--``, ``COPY`` or ``\\``.

In COPY text format a row is one line (newlines in values are written as
``\\n``) and a value can never start a line with ``\\.`` (backslashes are
doubled), so the end marker and the row count are exact.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

HEADER = b"-- PostgreSQL database dump"
TRAILER = b"-- PostgreSQL database dump complete"

# pg_dump's object type (as in its "-- Name:" headers) -> the kind compared after a restore.
KINDS: dict[bytes, str] = {
    b"TABLE": "table",
    b"VIEW": "view",
    b"MATERIALIZED VIEW": "materialized view",
    b"SEQUENCE": "sequence",
    b"FUNCTION": "function",
    b"PROCEDURE": "procedure",
    b"AGGREGATE": "aggregate",
}
ROUTINE_KINDS = frozenset({"function", "procedure", "aggregate"})

MAX_LINE = 1 << 20  # longer SQL lines are skipped: no line the scanner needs is this long

# A newline, then a line that may matter (the search for "\n" runs at C speed).
_INTERESTING = re.compile(rb"\n((?:--|COPY |\\|SET client_encoding)[^\n]*)")
_TOC = re.compile(rb"^-- (Data for )?Name: (.*); Type: (.*?); Schema: (.*?);(?: Owner: .*)?$")
_COPY = re.compile(rb"^COPY (.+?)(?: \(.*\))? FROM stdin;$")
_CLIENT_ENCODING = re.compile(rb"^SET client_encoding = '([A-Za-z0-9_]+)';$")
_DUMPED_BY = b"-- Dumped by pg_dump version "
_DUMPED_FROM = b"-- Dumped from database version "
_END_MARKER = b"\n\\."

_SQL, _COPY_DATA = 0, 1


@dataclass(frozen=True)
class ScanResult:
    """What a whole dump said about itself."""

    bytes_scanned: int
    header: bool
    trailer: bool
    restrict_key: str | None
    unrestrict_key: str | None
    unterminated_copy: str | None  # the COPY target the data ended in, if it ended in one
    rows: dict[str, int]  # COPY target as written (e.g. 'public."Order"') -> rows
    objects: Counter[tuple[str, str, str]]  # (kind, schema, name) -> how many
    pg_dump_version: str | None = None
    server_version: str | None = None
    text_after_trailer: str | None = None
    client_encoding: str | None = None  # the SET client_encoding of the dump
    problems: list[str] = field(default_factory=list)
    copies: tuple[tuple[str, int], ...] = ()  # every COPY block in order: (target, rows)

    @property
    def complete(self) -> bool:
        """A whole plain dump: header, trailer last, no open COPY or restrict block."""
        return not self.problems

    @property
    def total_rows(self) -> int:
        """Rows in every COPY block together."""
        return sum(self.rows.values())

    def count(self, kind: str) -> int:
        """How many objects of ``kind`` the dump creates."""
        return sum(n for (k, _, _), n in self.objects.items() if k == kind)


class DumpScanner:
    """Feed it a dump's bytes with ``feed``; ``finish`` returns the ``ScanResult``."""

    def __init__(self) -> None:
        self.bytes_scanned = 0
        self._mode = _SQL
        self._pending = b""  # SQL mode: an incomplete line; COPY mode: a possible end marker
        self._skip_line = False  # SQL mode: discarding the rest of an over-long line
        self._header: bool | None = None  # decided by the first line that is not "--"
        self._after_trailer = False
        self._text_after_trailer: str | None = None
        self._last_toc_type = b""
        self._copy_target = ""
        self._copy_rows = 0
        self._copy_at_start = False
        self._rows: dict[str, int] = {}
        self._copies: list[tuple[str, int]] = []
        self._objects: Counter[tuple[str, str, str]] = Counter()
        self._restrict: str | None = None
        self._unrestrict: str | None = None
        self._dumped_by: str | None = None
        self._dumped_from: str | None = None
        self._client_encoding: str | None = None

    def feed(self, chunk: bytes) -> None:
        """Scan the next bytes of the dump."""
        if not chunk:
            return
        self.bytes_scanned += len(chunk)
        data = self._pending + chunk if self._pending else chunk
        self._pending = b""
        pos = 0
        while pos is not None and pos < len(data):
            pos = (
                self._scan_copy(data, pos)
                if self._mode == _COPY_DATA
                else self._scan_sql(data, pos)
            )

    def finish(self) -> ScanResult:
        """Everything seen, judged: a dump that ends mid-line or mid-COPY is incomplete."""
        if self._mode == _SQL and self._pending and not self._skip_line:
            # The last line has no newline: judge it like any other line.
            tail, self._pending = self._pending, b""
            self._sql_line(tail.rstrip(b"\r"))
        unterminated = self._copy_target if self._mode == _COPY_DATA else None
        if unterminated is not None:
            rows = self._copy_rows + self._pending.count(b"\n")
            self._rows[unterminated] = self._rows.get(unterminated, 0) + rows
        problems = self._problems(unterminated)
        return ScanResult(
            bytes_scanned=self.bytes_scanned,
            header=bool(self._header),
            trailer=self._after_trailer,
            restrict_key=self._restrict,
            unrestrict_key=self._unrestrict,
            unterminated_copy=unterminated,
            rows=dict(self._rows),
            objects=Counter(self._objects),
            pg_dump_version=self._dumped_by,
            server_version=self._dumped_from,
            text_after_trailer=self._text_after_trailer,
            client_encoding=self._client_encoding,
            problems=problems,
            copies=tuple(self._copies),
        )

    # -- SQL between COPY blocks ---------------------------------------------------------

    def _scan_sql(self, data: bytes, pos: int) -> int | None:
        """Handle the complete lines of ``data`` from ``pos``; the position COPY data starts at."""
        if self._skip_line:
            newline = data.find(b"\n", pos)
            if newline < 0:
                return None
            self._skip_line = False
            pos = newline + 1
        end = data.rfind(b"\n", pos) + 1  # just past the last complete line (0: none)
        if end <= pos:
            self._keep_partial_line(data, pos)
            return None
        if self._header is None or self._after_trailer:
            pos = self._scan_lines_one_by_one(data, pos, end)
            if pos is None or self._mode == _COPY_DATA:
                return pos
        # The line at ``pos`` first, then every later line that starts after a newline.
        newline = data.index(b"\n", pos, end)
        if _interesting(data[pos : pos + 19]):
            self._sql_line(data[pos:newline].rstrip(b"\r"))
            if self._mode == _COPY_DATA or self._after_trailer:
                return newline + 1
        for match in _INTERESTING.finditer(data, newline, end - 1):
            self._sql_line(match.group(1).rstrip(b"\r"))
            if self._mode == _COPY_DATA or self._after_trailer:
                return match.end() + 1
        if end < len(data):
            self._keep_partial_line(data, end)
        return None

    def _scan_lines_one_by_one(self, data: bytes, pos: int, end: int) -> int | None:
        """The first lines (for the header) and those after the trailer: every line counts."""
        while pos < end and (self._header is None or self._after_trailer):
            newline = data.index(b"\n", pos, end)
            line = data[pos:newline].rstrip(b"\r")
            pos = newline + 1
            if self._header is None:
                if line.strip() in (b"", b"--"):
                    continue
                self._header = line == HEADER
            if self._after_trailer and not self._allowed_after_trailer(line):
                self._after_trailer = False
                self._text_after_trailer = display(_text(line[:120]))
            if _interesting(line):
                self._sql_line(line)
                if self._mode == _COPY_DATA:
                    return pos
        if pos >= end:
            if end < len(data):
                self._keep_partial_line(data, end)
            return None
        return pos

    def _allowed_after_trailer(self, line: bytes) -> bool:
        stripped = line.strip()
        if stripped in (b"", b"--"):
            return True
        return stripped.startswith(b"\\unrestrict ") or stripped == TRAILER

    def _keep_partial_line(self, data: bytes, pos: int) -> None:
        if len(data) - pos > MAX_LINE:
            self._skip_line = True
            self._pending = b""
        else:
            self._pending = data[pos:]

    def _sql_line(self, line: bytes) -> None:
        """One line of SQL that may matter: a TOC header, COPY, restrict, trailer."""
        if line.startswith(b"--"):
            if line == TRAILER:
                self._after_trailer = True
                self._text_after_trailer = None
            elif line.startswith(b"-- ") and b"Name: " in line:
                self._toc_header(line)
            elif line.startswith(_DUMPED_BY):
                self._dumped_by = display(_text(line[len(_DUMPED_BY) :]))
            elif line.startswith(_DUMPED_FROM):
                self._dumped_from = display(_text(line[len(_DUMPED_FROM) :]))
        elif line.startswith(b"COPY "):
            match = _COPY.match(line)
            if match and self._last_toc_type == b"TABLE DATA":
                # A table without columns reads "COPY public.t  FROM stdin;" (an empty
                # column list): the name never ends in a space, a quoted one in '"'.
                self._start_copy(_text(match.group(1).rstrip(b" ")))
        elif line.startswith(b"\\restrict ") and self._restrict is None:
            self._restrict = _text(line[len(b"\\restrict ") :].strip())
        elif line.startswith(b"\\unrestrict "):
            self._unrestrict = _text(line[len(b"\\unrestrict ") :].strip())
        elif line.startswith(b"SET client_encoding") and self._client_encoding is None:
            match = _CLIENT_ENCODING.match(line)
            if match:
                self._client_encoding = _text(match.group(1))

    def _toc_header(self, line: bytes) -> None:
        match = _TOC.match(line)
        if not match:
            return
        data_for, name, obj_type, schema = match.groups()
        self._last_toc_type = obj_type
        if data_for:
            return
        kind = KINDS.get(obj_type)
        if kind is None:
            return
        if kind in ROUTINE_KINDS:
            # "film_in_stock(integer, integer)": routines are compared by name and count.
            paren = name.rfind(b"(")
            name = name[:paren] if paren > 0 else name
        self._objects[(kind, _text(schema), _text(name))] += 1

    # -- COPY data -------------------------------------------------------------------------

    def _start_copy(self, target: str) -> None:
        self._mode = _COPY_DATA
        self._copy_target = target
        self._copy_rows = 0
        self._copy_at_start = True
        self._last_toc_type = b""

    def _scan_copy(self, data: bytes, pos: int) -> int | None:
        """Count rows up to the ``\\.`` line; the position after it, or None for more data."""
        if self._copy_at_start:
            # The block's first line may already be the end marker (an empty table).
            head = data[pos : pos + 4]
            marker_end = _end_line_length(head)
            if marker_end:
                self._copy_at_start = False
                self._end_copy()
                return pos + marker_end
            if len(head) < 4 and _is_prefix_of_end_line(head):
                self._pending = data[pos:]
                return None
            self._copy_at_start = False
        search = pos
        while True:
            found = data.find(_END_MARKER, search)
            if found < 0:
                # Only a "\n" or "\n\\" at the very end may start the marker: keeping
                # nothing else spares copying every chunk onto the few bytes kept.
                keep = max(pos, len(data) - _marker_start_length(data))
                self._copy_rows += data.count(b"\n", pos, keep)
                self._pending = data[keep:]
                return None
            after = data[found + 3 : found + 5]
            if after[:1] == b"\n" or after == b"\r\n":
                self._copy_rows += data.count(b"\n", pos, found + 1)
                self._end_copy()
                return found + 3 + (1 if after[:1] == b"\n" else 2)
            if after in (b"", b"\r"):
                # Not enough bytes to tell: keep the candidate for the next chunk.
                self._copy_rows += data.count(b"\n", pos, found)
                self._pending = data[found:]
                return None
            search = found + 1  # "\." followed by more text is not the end marker

    def _end_copy(self) -> None:
        target = self._copy_target
        self._rows[target] = self._rows.get(target, 0) + self._copy_rows
        self._copies.append((target, self._copy_rows))
        self._mode = _SQL
        self._copy_target = ""
        self._copy_rows = 0

    # -- verdict -----------------------------------------------------------------------------

    def _problems(self, unterminated: str | None) -> list[str]:
        problems = []
        if self.bytes_scanned == 0:
            return ["the dump is empty"]
        if not self._header:
            problems.append(
                "no '-- PostgreSQL database dump' header: this is not a plain-format pg_dump"
            )
        if unterminated is not None:
            problems.append(
                f"the dump ends inside the COPY data of {display(unterminated)}: "
                "pg_dump did not finish writing it"
            )
        elif not self._after_trailer:
            problem = "no '-- PostgreSQL database dump complete' trailer at the end"
            if self._text_after_trailer is not None:
                problem += (
                    ": the dump was cut short, or text follows the trailer "
                    f"(last seen followed by {self._text_after_trailer!r})"
                )
            else:
                problem += ": the dump was cut short"
            problems.append(problem)
        if self._restrict is not None and self._unrestrict != self._restrict:
            if self._unrestrict is None:
                problems.append("'\\restrict' has no matching '\\unrestrict' line")
            else:
                problems.append("'\\unrestrict' names another key than '\\restrict'")
        return problems


def scan_bytes(data: bytes, chunk_size: int = 1 << 20) -> ScanResult:
    """Scan a whole dump held in memory (for tests and small files)."""
    scanner = DumpScanner()
    for start in range(0, len(data), chunk_size):
        scanner.feed(data[start : start + chunk_size])
    return scanner.finish()


def _interesting(line_start: bytes) -> bool:
    """Whether a line starting with these bytes may matter to the scanner."""
    return (
        line_start[:2] == b"--"
        or line_start[:5] == b"COPY "
        or line_start[:1] == b"\\"
        or line_start[:19] == b"SET client_encoding"
    )


def _marker_start_length(data: bytes) -> int:
    """How many bytes at the end of ``data`` may be the start of the ``\\n\\.`` marker."""
    if data.endswith(b"\n\\"):
        return 2
    return 1 if data.endswith(b"\n") else 0


def _is_prefix_of_end_line(head: bytes) -> bool:
    return b"\\.\n".startswith(head) or b"\\.\r\n".startswith(head)


def _end_line_length(head: bytes) -> int:
    """3 or 4 when ``head`` starts with the ``\\.`` end line (LF or CRLF), else 0."""
    if head.startswith(b"\\.\n"):
        return 3
    if head.startswith(b"\\.\r\n"):
        return 4
    return 0


def _text(raw: bytes) -> str:
    """Bytes as text, losslessly: names compare byte for byte with what the server returns."""
    return raw.decode("utf-8", "surrogateescape")


def display(text: str) -> str:
    """A name from ``_text`` made printable (undecodable bytes become U+FFFD)."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
