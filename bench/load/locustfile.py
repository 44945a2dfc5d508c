"""Load model for Casework: how the staff of a subdistrict and its residents use it during a day.

Mix (by request, over a run): ~70 % board polls and refreshes, ~20 % case pages and lists,
~10 % writes (sign, dispatch, accept, report done, close from the boards; reports from the public
page). Staff log in through the real login form (CSRF token from the page) and keep a board open:
htmx polls it every 10 s with If-None-Match (304 while nothing changed), the user opens a case now
and then and acts on a card. Residents fill in the public report form.

Run it with bench/load/run.py (starts gunicorn on a generated database and checks the outcome), or
by hand against a running server:

    .venv/bin/locust -f bench/load/locustfile.py --headless -H http://127.0.0.1:8000 -u 40 -r 4 -t 60s

Environment:
    LOAD_WRITES_LOG   append one JSON line per write that answered 2xx (checked against the database
                      after a fault: every acknowledged write must be there)
    LOAD_THINK        seconds between a staff user's actions, "min,max" (default "3,10")
    LOAD_POLL_SECONDS the board's poll interval (default 10, like the browser's); lower both to
                      saturate the server and measure its capacity for the mix
"""
from __future__ import annotations

import json
import os
import random
import re
import threading
import time

from locust import HttpUser, between, events, task

CSRF_RE = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
CARD_RE = re.compile(r'<article id="card-(\d+)"[^>]*?data-version="(\d+)"', re.S)
FIRE_RE = re.compile(r'hx-post="(/board/cards/(\d+)/events/(sign|dispatch|accept|close_ok|report_done))"')
CASE_LINK_RE = re.compile(r'href="(/cases/\d+)"')
OPTION_RE = re.compile(r'<option value="(\d+)"[^>]*>')
THINK = tuple(float(x) for x in os.environ.get("LOAD_THINK", "3,10").split(","))
POLL_SECONDS = float(os.environ.get("LOAD_POLL_SECONDS", "10"))

# Who works on boards, weighted like a subdistrict: many grid staff and building leaders, a few
# handlers and supervisors.
STAFF = (["wangge01", "wangge02", "wangge03", "wangge04"] * 3 + ["louzhang01", "louzhang02", "louzhang03"] * 2
         + ["wuye01", "wuye02", "shequ01", "shequ02", "jiedao"])

_log_lock = threading.Lock()


def log_write(kind: str, **fields) -> None:
    path = os.environ.get("LOAD_WRITES_LOG")
    if not path:
        return
    with _log_lock, open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"kind": kind, "at": time.time(), **fields}) + "\n")


class Staff(HttpUser):
    """A staff member with the board open all day."""

    weight = 12
    wait_time = between(*THINK)

    def on_start(self) -> None:
        self.username = random.choice(STAFF)
        page = self.client.get("/login", name="login page")
        token = CSRF_RE.search(page.text).group(1)
        answer = self.client.post("/login", data={"username": self.username, "password": "demo", "csrf_token": token},
                                  allow_redirects=False, name="login")
        if answer.status_code != 302:
            raise RuntimeError(f"login as {self.username} answered {answer.status_code}")
        self.csrf = token
        self.etag = None
        self.cards: list[tuple[str, int, str, str]] = []  # (url, case id, event, version)
        self.case_links: list[str] = []
        self.last_poll = 0.0
        self.refresh(name="board page")

    def refresh(self, name: str, htmx: bool = False) -> None:
        headers = {"HX-Request": "true", "HX-Target": "board"} if htmx else {}
        page = self.client.get("/board/", headers=headers, name=name)
        if page.status_code == 200:
            self.etag = page.headers.get("ETag")
            self.remember(page.text)

    def remember(self, html: str) -> None:
        versions = {case_id: version for case_id, version in CARD_RE.findall(html)}
        self.cards = [(url, int(case_id), event, versions.get(case_id, "0"))
                      for url, case_id, event in FIRE_RE.findall(html)]
        self.case_links = CASE_LINK_RE.findall(html)[:50]

    @task(70)
    def board(self) -> None:
        """The board's 10 s poll (If-None-Match: 304 while nothing changed); a 200 is the refresh."""
        wait = POLL_SECONDS - (time.time() - self.last_poll)
        if wait > 0:
            time.sleep(min(wait, POLL_SECONDS))
        self.last_poll = time.time()
        headers = {"HX-Request": "true", "HX-Target": "board"}
        if self.etag:
            headers["If-None-Match"] = self.etag
        with self.client.get("/board/", headers=headers, name="board poll", catch_response=True) as answer:
            if answer.status_code == 304:
                answer.success()
            elif answer.status_code == 200:
                self.etag = answer.headers.get("ETag")
                self.remember(answer.text)
                answer.success()

    @task(20)
    def case_pages(self) -> None:
        """Open a case from the board, or the case list."""
        if self.case_links and random.random() < 0.6:
            self.client.get(random.choice(self.case_links), name="case page")
        else:
            self.client.get("/cases/", name="case list")

    @task(9)
    def act(self) -> None:
        """Press a card's button (sign, dispatch, accept, …): the card fragment comes back."""
        if not self.cards:
            self.refresh(name="board refresh", htmx=True)
            return
        url, case_id, event, version = self.cards.pop(random.randrange(len(self.cards)))
        with self.client.post(url, data={"version": version}, name=f"write {event}", catch_response=True,
                              headers={"HX-Request": "true", "X-CSRFToken": self.csrf}) as answer:
            if 200 <= answer.status_code < 300:
                log_write("event", case_id=case_id, event=event, version=int(version), user=self.username)
                answer.success()
            elif answer.status_code in (409, 422):
                answer.success()  # someone else moved it first: the card snaps back, as designed


class Resident(HttpUser):
    """A resident reporting a problem from the public page (about 1 request in 100)."""

    weight = 1
    wait_time = between(20, 40)

    @task
    def report(self) -> None:
        form = self.client.get("/report", name="public report form")
        token = CSRF_RE.search(form.text)
        options = OPTION_RE.findall(form.text)
        if not token:
            return
        buildings = self.client.get("/report/buildings", params={"community_id": 1}, name="public buildings")
        building = (OPTION_RE.findall(buildings.text) or ["1"])[0]
        data = {"csrf_token": token.group(1), "community_id": "1", "building_id": building,
                "category_id": options[-1] if options else "1", "unit": "2单元301",
                "description": "楼道灯坏了好几天，晚上很黑，请尽快修理。", "reporter_name": "压测居民",
                "reporter_phone": "13800000000", "consent": "1"}
        with self.client.post("/report", data=data, allow_redirects=False, name="write report",
                              catch_response=True) as answer:
            if answer.status_code == 303:
                code = answer.headers["Location"].split("/track/")[1].split("?")[0]
                log_write("report", code=code)
                answer.success()


@events.quitting.add_listener
def _fail_on_errors(environment, **_kw) -> None:
    """Non-zero exit when anything failed (5xx, socket errors, unexpected 4xx)."""
    if environment.stats.total.num_failures:
        environment.process_exit_code = 1
