"""Statements about databases run on ``postgres``, else ``template1``, found by the first one."""

from __future__ import annotations

import pytest

from db_backup import psql
from db_backup.connection import ConnectionInfo
from db_backup.databases import Server
from db_backup.errors import DatabaseConnectionError

REFUSED = (
    'connection to server at "127.0.0.1", port 5432 failed: FATAL:  database "{}" does not exist'
)
LOST = "server closed the connection unexpectedly"


class FakePsql:
    """``psql.query`` answering per database: rows, or the failure psql would report."""

    def __init__(self, answers: dict[str, list[list[str]] | psql.PsqlFailed]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str]] = []

    def __call__(self, connection: ConnectionInfo, sql: str, **_: object) -> list[list[str]]:
        self.calls.append((connection.dbname, sql))
        answer = self.answers[connection.dbname]
        if isinstance(answer, psql.PsqlFailed):
            raise answer
        return answer


def refused(dbname: str) -> psql.PsqlFailed:
    return psql.PsqlFailed(psql.CONNECTION_FAILED, REFUSED.format(dbname), None)


@pytest.fixture
def server() -> Server:
    return Server(ConnectionInfo("127.0.0.1", 5432, "shop", "shop"))


def test_the_first_statement_finds_postgres_without_a_probe(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakePsql({"postgres": [["t"]]})
    monkeypatch.setattr(psql, "query", fake)
    assert server.exists("shop") is True
    assert server.exists("other") is True
    assert [db for db, _ in fake.calls] == ["postgres", "postgres"], "no SELECT 1 first"


def test_a_server_without_postgres_runs_it_on_template1_once(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakePsql({"postgres": refused("postgres"), "template1": [["f"]]})
    monkeypatch.setattr(psql, "query", fake)
    assert server.exists("shop") is False
    assert server.exists("other") is False
    assert [db for db, _ in fake.calls] == ["postgres", "template1", "template1"]


def test_a_connection_lost_mid_statement_is_not_run_again_elsewhere(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The statement may have run: it is reported, never repeated on template1."""
    lost = psql.PsqlFailed(psql.CONNECTION_FAILED, LOST, None)
    fake = FakePsql({"postgres": lost, "template1": [["t"]]})
    monkeypatch.setattr(psql, "query", fake)
    with pytest.raises(DatabaseConnectionError, match="creating database x: cannot connect"):
        server.create_marked("x")
    assert [db for db, _ in fake.calls] == ["postgres"]


def test_no_maintenance_database_is_one_connection_error(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakePsql({"postgres": refused("postgres"), "template1": refused("template1")})
    monkeypatch.setattr(psql, "query", fake)
    refusal = r'cannot connect to the server: .*"template1"'
    with pytest.raises(DatabaseConnectionError, match=refusal):
        server.drop("x")
    assert [db for db, _ in fake.calls] == ["postgres", "template1"]
