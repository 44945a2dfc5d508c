"""Benchmark: the hotspot lists (未诉先办) on 1,000,000 cases on PostgreSQL.

Not part of the test run. Uses the dashboard benchmark's database and generator (the demo
subdistrict, N cases over the last 365 days; bench/bench_dashboard.py), built once:

    .venv/bin/python bench/bench_hotspots.py                 # builds casework_bench if needed (≈5 min for 1M)
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/casework_bench \\
        .venv/bin/python bench/bench_hotspots.py --repeat 7

What is timed: `services.hotspots.find` (the three lists) for the subdistrict supervisor and a
community supervisor, warm, median and max of --repeat runs; and `GET /reports/hotspots` through
the real app (login, queries, template). Target (issue #10): under 1 s with 1,000,000 cases.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_dashboard import DEFAULT_URL, build, ensure_database, make_app  # noqa: E402
from sqlalchemy import func, inspect, select  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    opts = parser.parse_args()
    ensure_database(opts.url)
    app = make_app(opts.url)
    from casework.extensions import db
    from casework.models import Case, User
    from casework.services import hotspots
    with app.app_context():
        have = db.session.scalar(select(func.count()).select_from(Case)) if inspect(db.engine).has_table("case") else 0
        needs_tables = not inspect(db.engine).has_table("case_link")
    if opts.rebuild or have != opts.cases or needs_tables:
        print(f"building {opts.cases:,} cases (found {have:,})", flush=True)
        build(app, opts.cases, opts.seed)
    with app.app_context():
        print(f"{db.session.scalar(select(func.count()).select_from(Case)):,} cases; "
              f"{db.session.scalar(select(func.version()))[:16]}")
        print("| who | repeated | came back | companies | median | max |")
        print("|---|---|---|---|---|---|")
        for name in ("jiedao", "shequ01"):
            user = db.session.scalars(select(User).where(User.username == name)).one()
            times, found = [], None
            for _ in range(opts.repeat + 1):
                started = time.perf_counter()
                found = hotspots.find(user)
                times.append(time.perf_counter() - started)
            times = times[1:]  # the first run warms the cache
            print(f"| {name} | {len(found.repeated)} | {len(found.came_back)} | {len(found.companies)} | "
                  f"{statistics.median(times) * 1000:.0f} ms | {max(times) * 1000:.0f} ms |", flush=True)
    client = app.test_client()
    import re
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"username": "jiedao", "password": "demo", "csrf_token": token})
    times = []
    for _ in range(opts.repeat + 1):
        started = time.perf_counter()
        response = client.get("/reports/hotspots")
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
    times = times[1:]
    print(f"GET /reports/hotspots as jiedao: median {statistics.median(times) * 1000:.0f} ms, "
          f"max {max(times) * 1000:.0f} ms ({len(response.data):,} bytes)")


if __name__ == "__main__":
    main()
