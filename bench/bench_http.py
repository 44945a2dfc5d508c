"""Benchmark over HTTP: a board and its 304 poll against the bare reference pages, side by side.

Everything runs in one go on this machine, so the ratios compare like with like:
gunicorn with 2 sync workers on 127.0.0.1, wrk with 2 threads and 8 connections, --seconds per page.

    apt-get install -y wrk
    .venv/bin/python bench/bench_http.py                       # /tmp/bench.db (bench_board.py builds it)
    .venv/bin/python bench/bench_http.py --user jiedao --seconds 15
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/casework_bench_board \\
        .venv/bin/python bench/bench_http.py --user jiedao

Pages: the reference app's `/bare` (2 KB string) and `/rows` (SQLAlchemy + Jinja, 200 of 10,000 rows,
bench/reference/app.py); `/board/` as --user with compression off (COMPRESS=0) and on (brotli, the
client sending `Accept-Encoding: br, gzip`); the board's 304 poll (If-None-Match, as htmx sends it).
Bytes on the wire are measured with one request each. Prints a Markdown table with the ratios
against the issue's targets (board ≥ 0.6 × rows; poll ≥ 0.5 × bare).
"""
from __future__ import annotations

import argparse
import http.cookiejar
import os

os.environ.setdefault("SECRET_KEY", "bench-only-key")  # the app refuses to start without one
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CSRF_RE = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
# Flask-Login's strong session protection binds the session to address + User-Agent: login, fetches
# and wrk must send the same one, or every wrk request is a 302 to the login page.
UA = {"User-Agent": "casework-bench"}
# wrk counts 3xx as success: count every answer that is not the expected status.
WRK_SCRIPT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) unexpected = 0; expected = tonumber(args[1]) end
function response(status, headers, body) if status ~= expected then unexpected = unexpected + 1 end end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("unexpected") end
  io.write(string.format("unexpected statuses: %d\\n", n))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(args: list[str], env: dict, cwd: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "--log-level", "warning",
                             *args], cwd=cwd, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(base + "/", timeout=1)
            break
        except urllib.error.HTTPError:
            break
        except OSError:
            time.sleep(0.2)
    return proc, base


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


def login(base: str, username: str) -> str:
    """The session cookie of `username`, logged in through the real form."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect())
    opener.addheaders = list(UA.items())
    token = CSRF_RE.search(opener.open(base + "/login").read().decode()).group(1)
    data = urllib.parse.urlencode({"username": username, "password": "demo", "csrf_token": token}).encode()
    try:
        opener.open(base + "/login", data=data)
    except urllib.error.HTTPError as exc:
        assert exc.code == 302, exc.code
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def fetch(url: str, headers: dict) -> tuple[int, bytes, dict]:
    request = urllib.request.Request(url, headers={**UA, **headers})
    try:
        with urllib.request.urlopen(request) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def wrk(url: str, headers: dict, seconds: int, expect: int = 200) -> tuple[float, float, int]:
    """req/s, p50 ms and the number of answers whose status was not `expect`, from wrk -t2 -c8."""
    script = Path(tempfile.gettempdir()) / "casework-bench-wrk.lua"
    script.write_text(WRK_SCRIPT)
    cmd = ["wrk", "-t2", "-c8", f"-d{seconds}s", "--latency", "-s", str(script)]
    for k, v in {**UA, **headers}.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run(cmd + [url, "--", str(expect)], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = re.search(r"\s50%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1, "s": 1000}[p50.group(2)]
    bad = int(re.search(r"unexpected statuses: (\d+)", out).group(1))
    return rps, float(p50.group(1)) * scale, bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--user", default="wangge01")
    parser.add_argument("--seconds", type=int, default=15)
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", "sqlite:////tmp/bench.db")
    rows = []

    ref, base = serve(["--chdir", str(ROOT / "bench" / "reference"), "app:app"], {}, ROOT)
    try:
        for name, path in (("bare Flask, 2 KB string", "/bare"), ("bare Flask + SQLAlchemy + Jinja, 200 of 10,000 rows", "/rows")):
            status, body, _ = fetch(base + path, {})
            rows.append((name, *wrk(base + path, {}, args.seconds), len(body), len(body)))
    finally:
        stop(ref)

    env = {"DATABASE_URL": url, "RATELIMIT_STORAGE_URI": "memory://", "LOG_LEVEL": "WARNING"}
    for compress in ("0", "1"):
        app, base = serve(["wsgi:app"], {**env, "COMPRESS": compress}, ROOT)
        try:
            cookie = login(base, args.user)
            accept = {"Accept-Encoding": "br, gzip"} if compress == "1" else {"Accept-Encoding": "identity"}
            headers = {"Cookie": cookie, **accept}
            fetch(base + "/board/", headers)  # warm the card caches of both workers
            fetch(base + "/board/", headers)
            status, body, got = fetch(base + "/board/", headers)
            assert status == 200, status
            plain = len(fetch(base + "/board/", {"Cookie": cookie, "Accept-Encoding": "identity"})[1])
            label = "br" if compress == "1" else "uncompressed"
            rows.append((f"`/board/` as {args.user}, {label}", *wrk(base + "/board/", headers, args.seconds), len(body), plain))
            if compress == "1":
                tag = got["ETag"]
                poll = {"Cookie": cookie, "HX-Request": "true", "HX-Target": "board", "If-None-Match": tag, **accept}
                status, body, _ = fetch(base + "/board/", poll)
                assert status == 304, status
                rows.append(("the same board's 304 poll (If-None-Match)", *wrk(base + "/board/", poll, args.seconds, 304), 0, 0))
        finally:
            stop(app)

    load = os.getloadavg()[0]
    print(f"\n{url}, user {args.user}; gunicorn -w 2 (sync); wrk -t2 -c8 -d{args.seconds}s; "
          f"load average at the end {load:.1f} on {os.cpu_count()} CPUs\n")
    print("| page | req/s | p50 (ms) | unexpected status | body on the wire | uncompressed |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, rps, p50, bad, wire, plain in rows:
        print(f"| {name} | {rps:,.0f} | {p50:.1f} | {bad} | {wire / 1024:.1f} kB | {plain / 1024:.1f} kB |")
    bare, rows200 = rows[0][1], rows[1][1]
    board_plain, board_br, poll = rows[2][1], rows[3][1], rows[4][1]
    print(f"\nratios: board (uncompressed) / 200 rows = {board_plain / rows200:.2f}, "
          f"board (br) / 200 rows = {board_br / rows200:.2f} (target ≥ 0.6); "
          f"304 poll / bare 2 KB = {poll / bare:.2f} (target ≥ 0.5)")


if __name__ == "__main__":
    main()
