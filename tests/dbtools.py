"""Throwaway databases for tests that need real commits (subprocesses, live servers, racing transactions).

The suite's `app` fixture runs each test in a rolled-back transaction; a test whose code commits for real
(a worker subprocess, `flask db upgrade`, a live server, two racing requests) gets a database of its own
here: a temporary SQLite file, or a freshly created PostgreSQL database next to TEST_DATABASE_URL that is
dropped afterwards (so the shared test database is never touched).
"""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from collections.abc import Iterator

from sqlalchemy.engine import make_url

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


@contextmanager
def throwaway_database(backend: str, folder: Path, label: str) -> Iterator[str]:
    """The URL of an empty database of `backend` (a file in `folder`, or a new PostgreSQL database whose
    name starts with casework_<label>_), removed when the block ends."""
    if backend == "sqlite":
        yield f"sqlite:///{Path(folder) / f'{label}.db'}"
        return
    import psycopg
    base = make_url(os.environ["TEST_DATABASE_URL"])
    name = f"casework_{label}_{uuid.uuid4().hex[:10]}"
    admin_dsn = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def app_on(url: str, uploads: Path, **settings) -> Iterator:
    """A test app (TestConfig) on `url` with its own upload folder and any further settings; its engine
    is disposed when the block ends (before the database is dropped)."""
    from casework import create_app
    from casework.config import TestConfig
    from casework.extensions import db

    config = type("ThrowawayConfig", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": url,
                                                     "UPLOAD_FOLDER": str(uploads), **settings})
    app = create_app(config)
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
