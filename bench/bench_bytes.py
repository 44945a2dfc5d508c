"""Bytes on the wire of a board, its live refresh (`HX-Target: board`) and the 304 poll, over HTTP.

    BENCH_DATABASE_URL=sqlite:////tmp/bench.db .venv/bin/python bench/bench_bytes.py --user wangge01 --user jiedao

Starts the app under gunicorn as bench_http.py does (COMPRESS=1), logs in through the real form,
fetches each page once warm with `Accept-Encoding: identity` and `br`, and times 50 sequential polls.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import bench_http as h  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--user", action="append")
    args = parser.parse_args()
    env = {"DATABASE_URL": os.environ.get("BENCH_DATABASE_URL", "sqlite:////tmp/bench.db"),
           "RATELIMIT_STORAGE_URI": "memory://", "LOG_LEVEL": "WARNING", "COMPRESS": "1"}
    app, base = h.serve(["wsgi:app"], env, h.ROOT)
    try:
        for user in args.user or ["wangge01"]:
            cookie = h.login(base, user)
            live = {"HX-Request": "true", "HX-Target": "board"}
            for enc in ("identity", "br"):
                headers = {"Cookie": cookie, "Accept-Encoding": enc}
                h.fetch(base + "/board/", headers)  # warm the card cache
                _, page, got = h.fetch(base + "/board/", headers)
                _, refresh, _ = h.fetch(base + "/board/", {**headers, **live})
                print(f"{user} {enc}: page {len(page):,} B, refresh {len(refresh):,} B")
            poll = {"Cookie": cookie, "If-None-Match": got["ETag"], "HX-Trigger": "board", **live}
            started, n = time.perf_counter(), 50
            statuses = {h.fetch(base + "/board/", poll)[0] for _ in range(n)}
            print(f"{user} poll {statuses}: {(time.perf_counter() - started) / n * 1000:.1f} ms each (sequential)")
    finally:
        h.stop(app)


if __name__ == "__main__":
    main()
