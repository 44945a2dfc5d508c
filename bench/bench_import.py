"""Benchmark: validate and apply a structure workbook of 1,000 buildings and 2,000 people.

Not part of the test run. Builds the workbook with docs/examples/make_example.py (10 communities ×
5 grids, 1,000 buildings, 2,000 people), then on an empty database of its own (created here):
1. read + validate (the dry run: `read_files` + `build_plan`),
2. apply in one transaction and commit (new accounts get activation codes),
3. the same file again (everything unchanged: the dry run only).

    .venv/bin/python bench/bench_import.py                                  # SQLite in /tmp
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/casework_bench_import \\
        .venv/bin/python bench/bench_import.py
"""
from __future__ import annotations

import argparse
import os

os.environ.setdefault("SECRET_KEY", "bench-only-key")  # the app refuses to start without one
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "docs" / "examples"))


def _database(url: str | None) -> str:
    if not url:
        return f"sqlite:///{tempfile.mkdtemp()}/bench_import.db"
    import psycopg
    from sqlalchemy.engine import make_url
    base = make_url(url)
    admin = base.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{base.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{base.database}"')
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buildings", type=int, default=1000)
    parser.add_argument("--people", type=int, default=2000)
    args = parser.parse_args()
    url = _database(os.environ.get("BENCH_DATABASE_URL"))
    from make_example import build

    from casework import create_app
    from casework.config import Config
    from casework.extensions import db
    from casework.services import importing
    app = create_app(type("BenchConfig", (Config,), {"SQLALCHEMY_DATABASE_URI": url}))
    with app.app_context():
        db.create_all()
        data = importing.write_workbook(build(communities=10, grids_per=5, buildings=args.buildings,
                                              people=args.people))
        print(f"database: {db.engine.dialect.name}; workbook {len(data) / 1024:.0f} kB")
        t0 = time.perf_counter()
        plan = importing.build_plan(importing.read_files([("bench.xlsx", data)]))
        t1 = time.perf_counter()
        assert plan.ok, plan.errors[:5]
        applied = importing.apply(None, plan)
        db.session.commit()
        t2 = time.perf_counter()
        again = importing.build_plan(importing.read_files([("bench.xlsx", data)]))
        t3 = time.perf_counter()
        assert not again.changed()
        print(f"| {db.engine.dialect.name} | {args.buildings} | {args.people} | {t1 - t0:.2f} s | "
              f"{t2 - t1:.2f} s | {t2 - t0:.2f} s | {t3 - t2:.2f} s | {len(applied.slips)} |")
        db.session.remove()
        db.engine.dispose()


if __name__ == "__main__":
    main()
