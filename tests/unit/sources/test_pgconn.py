"""Parsing PostgreSQL DSNs: the password is taken out of what goes on a command line."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dr_orchestrator.errors import BadInput
from dr_orchestrator.sources.pgconn import parse_dsn


def test_uri_with_password_and_options() -> None:
    info = parse_dsn("postgresql://app:p%40ss%3Aw0rd@db.example:6543/orders?sslmode=require&application_name=dro")
    assert info.password == "p@ss:w0rd"
    assert info.params == {"user": "app", "host": "db.example", "port": "6543", "dbname": "orders",
                           "sslmode": "require", "application_name": "dro"}
    assert "p@ss" not in info.conninfo() and "password" not in info.conninfo()
    assert info.env()["PGPASSWORD"] == "p@ss:w0rd"
    assert "p@ss" not in repr(info) and info.display() == "db.example:6543/orders"


def test_password_in_uri_query_is_removed() -> None:
    info = parse_dsn("postgres://u@h/db?password=hunter2")
    assert info.password == "hunter2" and "hunter2" not in info.conninfo()


def test_multi_host_and_ipv6() -> None:
    info = parse_dsn("postgresql://u@h1:5432,[::1]:5433/db")
    assert info.params["host"] == "h1,::1" and info.params["port"] == "5432,5433"


def test_key_value_with_quotes() -> None:
    info = parse_dsn("host=127.0.0.1 port = 5433 dbname='my db' password='it\\'s secret' user=postgres")
    assert info.password == "it's secret"
    assert info.params == {"host": "127.0.0.1", "port": "5433", "dbname": "my db", "user": "postgres"}
    assert info.conninfo() == "host=127.0.0.1 port=5433 dbname='my db' user=postgres"
    assert info.with_database("other").database == "other"


def test_malformed_key_value_does_not_echo_input() -> None:
    with pytest.raises(BadInput) as err:
        parse_dsn("host=h password='unterminated")
    assert "unterminated" not in err.value.message.replace("unterminated quote", "")


@given(st.text(min_size=1, max_size=40).filter(lambda s: "\x00" not in s),
       st.text(min_size=1, max_size=20).filter(lambda s: "\x00" not in s))
def test_conninfo_round_trips(password: str, dbname: str) -> None:
    from dr_orchestrator.sources.pgconn import _quote

    info = parse_dsn(f"host=h dbname={_quote(dbname)} password={_quote(password)}")
    assert info.password == password and info.database == dbname
    again = parse_dsn(info.conninfo())
    assert again.params == info.params and again.password is None
