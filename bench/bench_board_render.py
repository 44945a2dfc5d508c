"""Benchmark: the in-process cost of one warm board render per user, wall and CPU (issue #14).

Not part of the test run. Uses the database `bench/bench_board.py` builds (default /tmp/bench.db);
logs in through the real form, renders `/board/` 3 times to warm the caches, then 20 times, and
prints the medians of wall time and of this process's CPU time (steadier than wall time on a
loaded machine), the cards on the page and the SQL statements of one render. To compare two
trees, run it in each (e.g. one exported with `git archive`) alternately.

    SECRET_KEY=x .venv/bin/python bench/bench_board_render.py wangge01 louzhang01 wuye01 shequ01 jiedao
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "bench-only-key")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_board  # noqa: E402
from sqlalchemy import event  # noqa: E402

CARD = '<article id="card-'


def main(users: list[str], renders: int = 20) -> None:
    app = bench_board.make_app(os.environ.get("BENCH_DATABASE_URL", "sqlite:////tmp/bench.db"))
    from casework.extensions import db
    for username in users:
        client = app.test_client()
        bench_board.login(client, username)
        for _ in range(3):
            client.get("/board/")
        wall, cpu = [], []
        for _ in range(renders):
            started, started_cpu = time.perf_counter(), time.process_time()
            page = client.get("/board/")
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
        statements: list[int] = []
        with app.app_context():
            engine = db.engine

        def count(*_a, _seen=statements, **_k):
            _seen.append(1)
        event.listen(engine, "before_cursor_execute", count)
        client.get("/board/")
        event.remove(engine, "before_cursor_execute", count)
        print(f"{username}: wall median {statistics.median(wall):.1f} ms, CPU median {statistics.median(cpu):.1f} ms, "
              f"cards {page.text.count(CARD)}, SQL {len(statements)}, load {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["wangge01"])
