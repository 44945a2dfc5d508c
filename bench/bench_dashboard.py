"""Benchmark: the timeliness dashboard for the whole subdistrict over a year, on 1,000,000 cases.

Not part of the test run. Needs a PostgreSQL server; it uses its own database (created if
missing) so it never touches the development or test data:

    .venv/bin/python bench/bench_dashboard.py                       # build once (≈4.5 min for 1M), then time
    .venv/bin/python bench/bench_dashboard.py --cases 1000000 --rebuild
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/casework_bench \\
        .venv/bin/python bench/bench_dashboard.py --repeat 7

The data: the demo subdistrict's places and people (`load_places_and_people`), then N cases spread
over the last 365 days and their timelines, written with PostgreSQL COPY, and the dashboard's
rollups (`services/tallies.py`: each case's contribution computed by the same `case_tallies` that
intake and every transition use). Every workflow move carries `stage_due_at` and `stage_seconds`
(synthesised here: wall time between the moves, scaled to working time), so every figure on the
dashboard has real work to do. Mix: ~80% closed after a
call-back (some reopened once, some via a building leader, some straight to a handler, some solved
on the spot), ~6% rejected or merged, the rest open at some stage (more of them recent), ~8% with
a return, ~3% with an approved extension; ~25% of stages end after their due time.

What is timed: `GET /reports/?from=<a year ago>&to=<today>&dim=<dim>` as the subdistrict supervisor
through the real app (all queries + template), warm, median of --repeat runs per dimension; and
each query of `build_report` on its own. Results are printed as a Markdown table for
docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os

os.environ.setdefault("SECRET_KEY", "bench-only-key")  # the app refuses to start without one
import random
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.sql.schema import ScalarElementColumnDefault  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/casework_bench"
HOUR = 3600.0


def ensure_database(url: str) -> None:
    """Create the benchmark database if the server does not have it yet."""
    name = url.rsplit("/", 1)[1].split("?")[0]
    admin = create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def make_app(url: str):
    from casework import create_app
    from casework.config import Config

    # Flask-SQLAlchemy builds the engine in init_app: the URL must be in the config class itself.
    config = type("BenchConfig", (Config,), {"SQLALCHEMY_DATABASE_URI": url, "TESTING": True,
                                             "RATELIMIT_ENABLED": False})
    return create_app(config)


def _defaults(table, given: set[str]) -> dict:
    """Python-side scalar defaults for columns we do not set (so new NOT NULL columns still load)."""
    out = {}
    for column in table.columns:
        if column.name in given or column.name == "id":
            continue
        default = column.default
        if isinstance(default, ScalarElementColumnDefault):
            out[column.name] = default.arg
    return out


def _unique_constraint_names(metadata) -> None:
    """PostgreSQL wants index-backed constraint names unique per schema; qualify any repeated one.

    (At the time of writing two tables both call a unique constraint "once".)
    """
    from sqlalchemy import UniqueConstraint
    from sqlalchemy.sql.elements import conv
    seen: set[str] = set()
    for table in metadata.sorted_tables:
        for constraint in table.constraints:
            if isinstance(constraint, UniqueConstraint) and isinstance(constraint.name, str):
                if constraint.name in seen:
                    constraint.name = conv(f"uq_{table.name}_{constraint.name}")
                seen.add(constraint.name)


class Generator:
    """Cases and timelines as rows for COPY; plain Python, seeded, no ORM objects."""

    def __init__(self, seed: int, end: dt.datetime, days: int, places: dict):
        self.rng = random.Random(seed)
        self.end = end
        self.days = days
        self.p = places

    def expo(self, mean_hours: float) -> float:
        return self.rng.expovariate(1 / (mean_hours * HOUR))

    def case(self, case_id: int, seq: int):
        """One case's row and its events."""
        rng, p = self.rng, self.p
        created = self.end - dt.timedelta(seconds=rng.uniform(0.02, self.days) * 86400)
        created = created.replace(microsecond=0)
        building = rng.choice(p["buildings"])
        category_id, code = rng.choice(p["categories"])
        roll = rng.random()
        priority = "emergency" if roll < 0.03 else "urgent" if roll < 0.18 else "normal"
        case_hours = {"emergency": 4, "urgent": 24, "normal": 7 * 24}[priority]
        age_days = (self.end - created).total_seconds() / 86400
        open_share = 0.6 if age_days < 7 else 0.15 if age_days < 30 else 0.02
        roll = rng.random()
        if roll < 0.04:
            path = ["reject"]
        elif roll < 0.06:
            path = ["merge"]
        else:
            shape = rng.random()
            if shape < 0.55:
                path = ["sign", "dispatch", "hand_on", "accept", "report_done", "close"]
            elif shape < 0.75:
                path = ["sign", "dispatch_handler", "accept", "report_done", "close"]
            elif shape < 0.90:
                path = ["sign", "dispatch", "resolve", "close"]
            else:
                path = ["sign", "resolve", "close"]
            if "report_done" in path and rng.random() < 0.07:  # call-back finds it not solved
                i = path.index("close")
                path[i:i] = ["reopen", "report_done"]
            if "hand_on" in path and rng.random() < 0.08:       # handler returns it to the leader
                i = path.index("hand_on") + 1
                path[i:i] = ["accept", "return_case", "hand_on"]
            if rng.random() < open_share:                       # still open somewhere along the way
                path = path[: rng.randrange(0, len(path))]
        org = building[3] if rng.random() < 0.8 else rng.choice(p["partners"])
        events = [dict(event="report", from_status=None, to_status="reported", created_at=created,
                       stage_due_at=None, stage_seconds=None, organisation_id=None, reason_code=None)]
        limits = {"reported": 4, "triage": 8, "building_leader": 24, "handling": 72, "resolved": 48}
        means = {"reported": 3, "triage": 5, "building_leader": 14, "handling": 40, "resolved": 20}
        moves = {"sign": "triage", "dispatch": "building_leader", "dispatch_handler": "handling",
                 "hand_on": "handling", "resolve": "resolved", "report_done": "resolved", "close": "closed",
                 "reopen": "handling", "reject": "closed", "merge": "closed"}
        status, at, stage_start = "reported", created, created
        state = dict(assigned=None, resolved_at=None, closed_at=None, resolution=None, satisfaction=None,
                     returns=0, via_leader=False, accepted=None, responded_at=None, response_due_at=None)
        for event in path:
            if event == "accept":
                at = at + dt.timedelta(seconds=self.expo(1))
                if at >= self.end:
                    break
                state["accepted"] = at
                events.append(dict(event="accept", from_status=status, to_status=status, created_at=at,
                                   stage_due_at=None, stage_seconds=None, organisation_id=None, reason_code=None))
                continue
            target = moves.get(event)
            if event == "return_case":
                target = "building_leader"
            nxt = at + dt.timedelta(seconds=self.expo(means[status]))
            if nxt >= self.end:
                break
            at = nxt.replace(microsecond=0)
            due = stage_start + dt.timedelta(hours=limits[status])
            seconds = int((at - stage_start).total_seconds() * (1.0 if priority == "emergency" else 0.3))
            org_id = None
            if event in ("hand_on", "dispatch_handler"):
                state["assigned"] = org_id = org
            if event == "dispatch":
                state["via_leader"] = True
            if event == "return_case":
                state["returns"] += 1
                state["assigned"] = None
            if event in ("report_done", "resolve"):
                state["resolved_at"] = at
            if event == "reopen":
                state["resolved_at"] = None
            if event == "close":
                state["resolution"], state["closed_at"] = "solved", at
                state["satisfaction"] = rng.choice(["satisfied"] * 6 + ["basically_satisfied"] * 3 + ["dissatisfied"])
            if event in ("reject", "merge"):
                state["resolution"] = "rejected" if event == "reject" else "duplicate"
                state["closed_at"] = at
            if status == "reported" and state["responded_at"] is None:
                state["responded_at"], state["response_due_at"] = at, due
            events.append(dict(event=event, from_status=status, to_status=target, created_at=at, stage_due_at=due,
                               stage_seconds=seconds, organisation_id=org_id,
                               reason_code="not_our_duty" if event == "return_case" else
                               "not_in_scope" if event == "reject" else None))
            status, stage_start = target, at
        stage_due = None if status == "closed" else stage_start + dt.timedelta(hours=limits[status])
        row = dict(
            id=case_id, number=f"BX-{seq:09d}", tracking_code=None, title=rng.choice(p["titles"][code]),
            description="", category_id=category_id, priority=priority, channel="phone",
            building_id=building[0], grid_id=building[1], community_id=building[2], unit="",
            reporter_name=rng.choice("王李张刘陈杨赵黄") + rng.choice(["秀英", "建国", "海燕", "子涵"]),
            reporter_phone=f"1{rng.choice('3589')}{rng.randrange(10**9):09d}", status=status,
            assigned_org_id=state["assigned"], returned_org_id=None, via_leader=state["via_leader"],
            handler_accepted_at=state["accepted"], resolution=state["resolution"],
            satisfaction=state["satisfaction"], return_count=state["returns"], duplicate_of_id=None,
            created_by_id=None, created_at=created, updated_at=at, stage_started_at=stage_start,
            stage_due_at=stage_due, due_at=created + dt.timedelta(hours=case_hours), parked_at=None,
            extension_count=0, resolved_at=state["resolved_at"], closed_at=state["closed_at"], version=1,
            responded_at=state["responded_at"], response_due_at=state["response_due_at"],
        )
        extension = None
        if state["assigned"] and rng.random() < 0.04:
            extension = dict(case_id=case_id, kind="extend", requested_by_id=p["handler_id"], hours=16.0,
                             reason="需要采购配件", state="approved" if rng.random() < 0.8 else "refused",
                             decided_by_id=None, decided_at=None, decision_note="",
                             created_at=created + dt.timedelta(hours=30))
            row["extension_count"] = 1 if extension["state"] == "approved" else 0
        for e in events:
            e.update(case_id=case_id, kind="transition", actor_id=None, actor_label=None, note="", public=True)
        return row, events, extension


def build(app, count: int, seed: int) -> None:
    """Empty the benchmark database and fill it with `count` cases (COPY in batches), then the rollups."""
    from collections import Counter

    from casework.extensions import db
    from casework.models import Building, Case, CaseEvent, Category, Extension, Organisation, User
    from casework.models.cases import ReportTally, StageTally
    from casework.services import tallies
    from casework.services.demo import TITLES, load_places_and_people
    from casework.timekeeping import now

    with app.app_context():
        _unique_constraint_names(db.metadata)
        db.drop_all()
        db.create_all()
        load_places_and_people()
        db.session.commit()
        places = {
            "buildings": [(b.id, b.grid_id, b.grid.community_id, b.property_company_id)
                          for b in db.session.scalars(select(Building).order_by(Building.id))],
            "categories": [(c.id, c.code) for c in db.session.scalars(select(Category).order_by(Category.id))],
            "partners": list(db.session.scalars(select(Organisation.id).where(Organisation.kind != "property"))),
            "handler_id": db.session.scalar(select(User.id).where(User.role == "handler")),
            "titles": TITLES,
        }
        gen = Generator(seed, now(), 365, places)
        tables = {"case": Case.__table__, "case_event": CaseEvent.__table__, "extension": Extension.__table__}
        raw = db.engine.raw_connection()
        started = time.perf_counter()
        try:
            cursor = raw.cursor()
            cases, events, extensions = [], [], []
            batch = 50_000

            def flush():
                for name, rows in (("case", cases), ("case_event", events), ("extension", extensions)):
                    if not rows:
                        continue
                    extra = _defaults(tables[name], set(rows[0]))
                    columns = list(rows[0]) + list(extra)
                    quoted = ", ".join(f'"{c}"' for c in columns)
                    with cursor.copy(f'COPY "{name}" ({quoted}) FROM STDIN') as copy:
                        for r in rows:
                            copy.write_row([*r.values(), *extra.values()])
                    rows.clear()
                raw.commit()

            tally_figures, tally_stages = Counter(), Counter()
            for i in range(1, count + 1):
                row, evs, ext = gen.case(i, i)
                approved = [ext["created_at"]] if ext and ext["state"] == "approved" else []
                figures, stages = tallies.case_tallies(row, evs, approved)
                tally_figures.update(figures)
                tally_stages.update(stages)
                cases.append(row)
                events.extend(evs)
                if ext:
                    extensions.append(ext)
                if i % batch == 0:
                    flush()
                    print(f"  {i:>9,} cases  {time.perf_counter() - started:6.1f}s", flush=True)
            flush()
            cursor.execute("""SELECT setval(pg_get_serial_sequence('"case"', 'id'), (SELECT MAX(id) FROM "case"))""")
            raw.commit()
            # The rollups start empty, so plain COPY (no upsert) of the summed contributions.
            by_key: dict = {}
            for (*key, column), n in tally_figures.items():
                by_key.setdefault(tuple(key), dict.fromkeys(tallies.FIGURE_COLUMNS, 0))[column] += n
            del tally_figures
            with cursor.copy(f'COPY "{ReportTally.__tablename__}" ({", ".join(tallies.FIGURE_KEYS + tallies.FIGURE_COLUMNS)}) '
                             'FROM STDIN') as copy:
                for key, values in by_key.items():
                    copy.write_row([*key, *values.values()])
            with cursor.copy(f'COPY "{StageTally.__tablename__}" ({", ".join(tallies.STAGE_KEYS)}, n) FROM STDIN') as copy:
                for key, n in tally_stages.items():
                    copy.write_row([*key, n])
            raw.commit()
            print(f"  rollups: {len(by_key):,} figure rows, {len(tally_stages):,} stage-time rows "
                  f"{time.perf_counter() - started:6.1f}s", flush=True)
        finally:
            raw.close()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        print(f"built {count:,} cases in {time.perf_counter() - started:.0f}s")


def timed(fn, repeat: int) -> tuple[float, float]:
    fn()  # warm the cache and the plan
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs), min(runs)


def run(app, repeat: int, dims=None, reference: bool = False) -> None:
    from casework.extensions import db
    from casework.models import Case, CaseEvent, Community, User
    from casework.services import reports
    from casework.timekeeping import now

    with app.app_context():
        n_cases = db.session.scalar(select(func.count()).select_from(Case))
        n_events = db.session.scalar(select(func.count()).select_from(CaseEvent))
        jiedao = db.session.scalars(select(User).where(User.role == "subdistrict_supervisor")).first()
        username = jiedao.username
        # The busiest handler organisation (a property company with half the buildings).
        handler = db.session.scalars(select(User).where(User.role == "handler").order_by(User.id)).first().username
        first_community = db.session.scalar(select(func.min(Community.id)))
    today = now().date()
    period = reports.Period(today - dt.timedelta(days=364), today)
    args = {"from": period.start.isoformat(), "to": period.end.isoformat()}

    def logged_in(name):
        c = app.test_client()
        page = c.get("/login")
        token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page.text).group(1)
        assert c.post("/login", data={"username": name, "password": "demo", "csrf_token": token}).status_code == 302
        return c

    client = logged_in(username)

    print(f"\n{n_cases:,} cases, {n_events:,} events; period {period.start} .. {period.end}; "
          f"PostgreSQL {db_version(app)}; median of {repeat} warm runs\n")
    print("| what | median | best |\n|---|---|---|")
    for dim in dims or reports.DIMENSIONS:
        def page_once(dim=dim):
            r = client.get("/reports/", query_string=args | {"dim": dim})
            assert r.status_code == 200, r.status_code
        med, best = timed(page_once, repeat)
        print(f"| GET /reports/ whole subdistrict, 365 days, by {dim} | {med * 1000:.0f} ms | {best * 1000:.0f} ms |")
    others = {
        "one community, by grid": (client, {"community": first_community, "dim": "grid"}),
        f"handler organisation's own view ({handler}), by category": (logged_in(handler), {"dim": "category"}),
    }
    for name, (c, extra) in others.items():
        def other_once(c=c, extra=extra):
            r = c.get("/reports/", query_string=args | extra)
            assert r.status_code == 200, r.status_code
        med, best = timed(other_once, repeat)
        print(f"| GET /reports/ {name}, 365 days | {med * 1000:.0f} ms | {best * 1000:.0f} ms |")
    with app.test_request_context():
        from flask_login import login_user
        jiedao = db.session.scalars(select(User).where(User.username == username)).one()
        login_user(jiedao)
        scope, at = reports.Scope(), now()
        community = reports.Scope(community_id=db.session.scalar(select(func.min(Community.id))))
        by_grid = reports.Grouping("grid")
        parts = {
            "figures from the rollup, by grid (1 query)": lambda: reports.rates.tally_figures(jiedao, scope, period, by_grid),
            "live parts: not answered / not completed and past due (2 queries)":
                lambda: reports.rates.live_figures(jiedao, scope, period, at, by_grid),
            "ranking by building leader (rollup + live + fold)": lambda: reports.ranking(jiedao, scope, period, at, "leader"),
            "stage median/p90 from the histogram rollup": lambda: reports.stage_times(jiedao, scope, period),
            "same, one community (grid rows)": lambda: reports.stage_times(jiedao, community, period),
            "weekly trend (rollup)": lambda: reports.weekly_trend(jiedao, scope, period),
            "overdue list + count": lambda: reports.overdue_cases(jiedao, scope, at),
        }
        if reference:
            parts["stage median/p90 from the timeline (reference, no rollup)"] = (
                lambda: reports.stage_times_live(jiedao, scope, period))
        for name, fn in parts.items():
            med, best = timed(fn, repeat)
            print(f"| {name} | {med * 1000:.0f} ms | {best * 1000:.0f} ms |")
        db.session.rollback()


def db_version(app) -> str:
    from casework.extensions import db
    with app.app_context():
        return db.session.scalar(text("SHOW server_version"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rebuild", action="store_true", help="drop and regenerate the data")
    parser.add_argument("--url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--dims", nargs="*", help="only these group-by dimensions for the page timing")
    parser.add_argument("--reference", action="store_true",
                        help="also time the stage percentiles computed from the timeline rows (slow)")
    opts = parser.parse_args()
    if not opts.url.startswith("postgresql"):
        sys.exit("the benchmark needs PostgreSQL (BENCH_DATABASE_URL / --url)")
    ensure_database(opts.url)
    app = make_app(opts.url)
    from casework.extensions import db
    from casework.models import Case
    with app.app_context():
        from sqlalchemy import inspect
        have = 0
        if inspect(db.engine).has_table("case"):
            have = db.session.scalar(select(func.count()).select_from(Case))
    if opts.rebuild or have != opts.cases:
        print(f"building {opts.cases:,} cases into {opts.url.rsplit('/', 1)[1]} (found {have:,})")
        build(app, opts.cases, opts.seed)
    run(app, opts.repeat, opts.dims, opts.reference)


if __name__ == "__main__":
    main()
