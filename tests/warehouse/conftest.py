"""Warehouse fixtures: one real PostgreSQL server on 127.0.0.1 for the session, and a fresh
catalog database per test (the DuckLake PostgreSQL catalog tests)."""

from __future__ import annotations

import itertools
import time

import pytest

from tests.support.postgres import PostgresServer, postgres_bin

_databases = itertools.count()


@pytest.fixture(scope="session")
def postgres():
    if postgres_bin() is None:
        pytest.fail("PostgreSQL binaries not found (/usr/lib/postgresql/*/bin): run `make system-deps`")
    server = PostgresServer()
    with server:
        yield server
    deadline = time.monotonic() + 10
    while server.leftover_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.leftover_processes() == [], "PostgreSQL processes of the test server outlived pg_ctl stop"


@pytest.fixture
def pg_catalog(postgres):
    """The `warehouse:` settings of a new, empty catalog database on the session server."""
    from schemas.warehouse import WarehouseSettings

    database = postgres.create_database(f"catalog_{next(_databases)}")
    return WarehouseSettings(catalog="postgres:" + postgres.conninfo(database))
