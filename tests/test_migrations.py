"""`flask db upgrade` on an empty database gives exactly the models' schema, on SQLite and PostgreSQL.

The commands run in a subprocess, as an operator runs them (`flask --app wsgi db upgrade`), against
a database made for this test: a temporary SQLite file, and a freshly created PostgreSQL database
when TEST_DATABASE_URL is set (dropped afterwards, so the shared test database is never touched).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import CheckConstraint, create_engine, inspect, text
from sqlalchemy.sql.elements import conv

from casework import models  # noqa: F401  (register every table on the metadata)
from casework.extensions import db
from dbtools import BACKENDS, throwaway_database

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=BACKENDS)
def empty_database(request, tmp_path):
    """The URL of an empty database, removed after the test."""
    with throwaway_database(request.param, tmp_path, "migtest") as url:
        yield url


def flask_db(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {"SECRET_KEY": "migration-test", **os.environ, "DATABASE_URL": url, "FLASK_APP": "wsgi"}
    env.pop("FLASK_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def schema_diff(url: str) -> list:
    """What autogenerate would still write: empty when migrations and models agree."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                                   "compare_server_default": True})
            return compare_metadata(context, db.metadata)
    finally:
        engine.dispose()


def test_upgrade_gives_the_models_schema(empty_database):
    done = flask_db(empty_database, "upgrade")
    assert done.returncode == 0, done.stderr
    diff = schema_diff(empty_database)
    assert diff == [], f"models and migrations differ (run `flask db migrate`): {diff}"
    check = flask_db(empty_database, "check")
    assert check.returncode == 0, check.stdout + check.stderr

    engine = create_engine(empty_database)
    try:
        inspector = inspect(engine)
        assert set(inspector.get_table_names()) == set(db.metadata.tables) | {"alembic_version"}
        # Autogenerate does not compare CHECK constraints, so look for them by name.
        for table in db.metadata.sorted_tables:
            wanted = {c.name if isinstance(c.name, conv) else f"ck_{table.name}_{c.name}"
                      for c in table.constraints if isinstance(c, CheckConstraint)}
            present = {c["name"] for c in inspector.get_check_constraints(table.name)}
            assert wanted <= present, (table.name, wanted - present)
            # Nor PostgreSQL's INCLUDE columns of an index (the boards' index-only scans need them).
            if engine.dialect.name == "postgresql":
                reflected = {i["name"]: i for i in inspector.get_indexes(table.name)}
                for index in table.indexes:
                    wanted_include = list(index.dialect_options["postgresql"]["include"] or [])
                    got = reflected[index.name].get("dialect_options", {}).get("postgresql_include", [])
                    assert wanted_include == list(got), (index.name, wanted_include, got)
        with engine.connect() as connection:
            heads = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        assert len(heads) == 1
    finally:
        engine.dispose()


def test_downgrade_to_base_and_back(empty_database):
    assert flask_db(empty_database, "upgrade").returncode == 0
    down = flask_db(empty_database, "downgrade", "base")
    assert down.returncode == 0, down.stderr
    engine = create_engine(empty_database)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    again = flask_db(empty_database, "upgrade")
    assert again.returncode == 0, again.stderr
    diff = schema_diff(empty_database)
    assert diff == [], f"models and migrations differ (run `flask db migrate`): {diff}"
