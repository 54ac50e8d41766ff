"""The dump scanner: what a plain pg_dump promises, read from chunks split anywhere."""

from __future__ import annotations

import itertools

import pytest

from db_backup.dumpscan import MAX_LINE, DumpScanner, ScanResult, scan_bytes

KEY = "Zx9kq2WbT4"

DUMP = f"""--
-- PostgreSQL database dump
--

\\restrict {KEY}

-- Dumped from database version 15.18
-- Dumped by pg_dump version 15.18

SET statement_timeout = 0;
SET client_encoding = 'UTF8';
SELECT pg_catalog.set_config('search_path', '', false);

--
-- Name: shop; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA shop;

--
-- Name: total(integer, integer); Type: FUNCTION; Schema: shop; Owner: -
--

CREATE FUNCTION shop.total(a integer, b integer) RETURNS integer
    LANGUAGE sql
    AS $$
-- PostgreSQL database dump complete
COPY shop.fake (x) FROM stdin;
SELECT a + b
$$;

--
-- Name: customer; Type: TABLE; Schema: shop; Owner: -
--

CREATE TABLE shop.customer (id integer, name text);

--
-- Name: Order Line; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public."Order Line" (id integer);

--
-- Name: empty; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.empty (id integer);

--
-- Name: customer_id_seq; Type: SEQUENCE; Schema: shop; Owner: -
--

CREATE SEQUENCE shop.customer_id_seq;

--
-- Name: names; Type: VIEW; Schema: shop; Owner: -
--

CREATE VIEW shop.names AS SELECT name FROM shop.customer;

--
-- Name: counts; Type: MATERIALIZED VIEW; Schema: shop; Owner: -
--

CREATE MATERIALIZED VIEW shop.counts AS SELECT count(*) FROM shop.customer WITH NO DATA;

--
-- Data for Name: customer; Type: TABLE DATA; Schema: shop; Owner: -
--

COPY shop.customer (id, name) FROM stdin;
1\tAda
2\t-- PostgreSQL database dump complete
3\t\\\\.not the end
4\t\\N
5\tCOPY shop.customer (id, name) FROM stdin;
\\.


--
-- Data for Name: Order Line; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public."Order Line" (id) FROM stdin;
10
11
\\.


--
-- Data for Name: empty; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.empty (id) FROM stdin;
\\.


--
-- PostgreSQL database dump complete
--

\\unrestrict {KEY}

""".encode()

ROWS = {"shop.customer": 5, 'public."Order Line"': 2, "public.empty": 0}
OBJECTS = {
    ("function", "shop", "total"): 1,
    ("table", "shop", "customer"): 1,
    ("table", "public", "Order Line"): 1,
    ("table", "public", "empty"): 1,
    ("sequence", "shop", "customer_id_seq"): 1,
    ("view", "shop", "names"): 1,
    ("materialized view", "shop", "counts"): 1,
}


def scan_in_pieces(data: bytes, *cuts: int) -> ScanResult:
    scanner = DumpScanner()
    edges = [0, *cuts, len(data)]
    for start, end in itertools.pairwise(edges):
        scanner.feed(data[start:end])
    return scanner.finish()


def assert_whole_dump(result: ScanResult) -> None:
    assert result.problems == []
    assert result.complete
    assert result.header and result.trailer
    assert result.rows == ROWS
    assert result.copies == tuple(ROWS.items()), "every COPY block in the dump's order"
    assert dict(result.objects) == OBJECTS
    assert result.restrict_key == KEY == result.unrestrict_key
    assert result.client_encoding == "UTF8"
    assert result.pg_dump_version == "15.18"


def test_a_whole_dump_is_complete_with_its_rows_and_objects() -> None:
    """Rows come from COPY blocks only; objects from pg_dump's Name/Type headers."""
    result = scan_bytes(DUMP)
    assert_whole_dump(result)
    assert result.total_rows == 7
    assert result.count("table") == 3
    assert result.bytes_scanned == len(DUMP)


def test_the_result_is_the_same_wherever_a_chunk_ends() -> None:
    """Lines, COPY end markers and headers split across two chunks are still seen.

    Every byte offset is tried; the message lists each offset whose result differs.
    """
    failing: dict[int, str] = {}
    for cut in range(1, len(DUMP)):
        try:
            assert_whole_dump(scan_in_pieces(DUMP, cut))
        except AssertionError as error:
            failing[cut] = (str(error).splitlines() or ["assertion failed"])[0]
    assert not failing, (
        f"{len(failing)} of {len(DUMP) - 1} cut offsets differ: {sorted(failing)}; "
        f"e.g. {'; '.join(f'{cut}: {why}' for cut, why in list(failing.items())[:3])}"
    )


def test_one_byte_chunks_give_the_same_result() -> None:
    assert_whole_dump(scan_in_pieces(DUMP, *range(1, len(DUMP))))


@pytest.mark.parametrize("size", [2, 3, 5, 7, 64, 4096])
def test_fixed_chunk_sizes_give_the_same_result(size: int) -> None:
    assert_whole_dump(scan_bytes(DUMP, chunk_size=size))


def test_crlf_line_ends_are_understood() -> None:
    """A dump whose lines were converted to CRLF still has complete COPY blocks."""
    result = scan_bytes(DUMP.replace(b"\n", b"\r\n"), chunk_size=7)
    assert result.problems == []
    assert result.rows == ROWS


def test_a_dump_cut_inside_copy_data_is_incomplete() -> None:
    cut = DUMP.index(b"3\t\\\\.not")
    result = scan_bytes(DUMP[:cut])
    assert not result.complete
    assert result.unterminated_copy == "shop.customer"
    assert "ends inside the COPY data of shop.customer" in result.problems[0]
    assert result.rows["shop.customer"] == 2


def test_a_dump_cut_between_statements_has_no_trailer() -> None:
    cut = DUMP.index(b"--\n-- Data for Name: empty")
    result = scan_bytes(DUMP[:cut])
    assert not result.complete
    assert result.unterminated_copy is None
    assert "no '-- PostgreSQL database dump complete' trailer" in result.problems[0]


def test_a_dump_cut_right_after_the_trailer_misses_its_unrestrict_line() -> None:
    cut = DUMP.index(b"\\unrestrict")
    result = scan_bytes(DUMP[:cut])
    assert result.trailer
    assert result.problems == ["'\\restrict' has no matching '\\unrestrict' line"]


def test_an_unrestrict_with_another_key_is_a_problem() -> None:
    result = scan_bytes(DUMP.replace(f"\\unrestrict {KEY}".encode(), b"\\unrestrict other"))
    assert result.problems == ["'\\unrestrict' names another key than '\\restrict'"]


def test_a_dump_without_restrict_lines_is_complete() -> None:
    """Dumps from pg_dump before 15.14 have no \\restrict / \\unrestrict lines."""
    data = DUMP.replace(f"\\restrict {KEY}\n".encode(), b"").replace(
        f"\\unrestrict {KEY}\n".encode(), b""
    )
    result = scan_bytes(data)
    assert result.complete
    assert result.restrict_key is None


def test_sql_after_the_trailer_makes_the_dump_incomplete() -> None:
    """The trailer must be the last thing written: appended SQL is not a pg_dump's output."""
    result = scan_bytes(DUMP + b"DROP TABLE shop.customer;\n")
    assert not result.complete
    assert "followed by 'DROP TABLE shop.customer;'" in result.problems[0]


def test_a_second_dump_appended_ends_with_its_own_trailer() -> None:
    result = scan_bytes(DUMP + DUMP)
    assert result.complete
    assert result.rows == {target: 2 * rows for target, rows in ROWS.items()}


def test_a_file_that_is_not_a_pg_dump_has_no_header() -> None:
    result = scan_bytes(b"CREATE TABLE t (id int);\n" + DUMP)
    assert not result.complete
    assert "no '-- PostgreSQL database dump' header" in result.problems[0]


def test_an_empty_file_is_incomplete() -> None:
    assert scan_bytes(b"").problems == ["the dump is empty"]


def test_a_last_line_without_newline_still_counts() -> None:
    result = scan_bytes(DUMP.rstrip(b"\n"))
    assert result.complete
    assert result.unrestrict_key == KEY


def test_copy_without_a_table_data_header_is_not_counted() -> None:
    """A COPY line inside a function body (no 'Data for Name' header above) is just SQL."""
    result = scan_bytes(DUMP)
    assert "shop.fake" not in result.rows


def test_a_table_without_columns_is_counted_under_its_name() -> None:
    """pg_dump writes an empty column list for it: 'COPY public.e  FROM stdin;'."""
    dump = (
        b"-- PostgreSQL database dump\n\n"
        b"-- Name: e; Type: TABLE DATA; Schema: public; Owner: -\n\n"
        b"COPY public.e  FROM stdin;\n\\.\n\n"
        b"-- Name: e e; Type: TABLE DATA; Schema: public; Owner: -\n\n"
        b'COPY public."e "  FROM stdin;\n\n\\.\n\n'
        b"-- PostgreSQL database dump complete\n\n"
    )
    result = scan_bytes(dump)
    assert result.complete, result.problems
    assert result.rows == {"public.e": 0, 'public."e "': 1}


def test_a_backslash_dot_inside_a_value_does_not_end_the_copy_block() -> None:
    """In COPY text a value's backslash is doubled, so only a bare \\. ends the data."""
    result = scan_bytes(DUMP.replace(b"3\t\\\\.not the end", b"3\t\\.x"))
    assert result.rows == ROWS


def test_over_long_sql_lines_are_skipped_with_bounded_memory() -> None:
    long_line = b"INSERT INTO shop.customer VALUES (1, '" + b"x" * (MAX_LINE + 10) + b"');\n"
    at = DUMP.index(b"--\n-- Name: customer_id_seq")
    data = DUMP[:at] + long_line + DUMP[at:]
    scanner = DumpScanner()
    for start in range(0, len(data), 65536):
        scanner.feed(data[start : start + 65536])
        assert len(scanner._pending) <= MAX_LINE + 65536
    result = scanner.finish()
    assert result.complete
    assert result.rows == ROWS


def test_a_large_copy_block_is_counted_exactly() -> None:
    rows = b"".join(b"%d\tname %d\n" % (n, n) for n in range(200_000))
    data = DUMP.replace(b"1\tAda\n", rows)
    result = scan_bytes(data, chunk_size=65_537)
    assert result.rows["shop.customer"] == 200_000 + 4


def test_routines_are_counted_by_name_so_overloads_are_kept_apart() -> None:
    overload = (
        b"--\n-- Name: total(numeric, numeric); Type: FUNCTION; Schema: shop; Owner: -\n--\n\n"
        b"CREATE FUNCTION shop.total(a numeric, b numeric) RETURNS numeric LANGUAGE sql "
        b"AS 'SELECT a + b';\n\n"
    )
    at = DUMP.index(b"--\n-- Name: customer; Type: TABLE")
    result = scan_bytes(DUMP[:at] + overload + DUMP[at:])
    assert result.objects[("function", "shop", "total")] == 2
