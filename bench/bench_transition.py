"""Profile ONE kind of transition (hand_on with an organisation robot bound and every handler subscribed
to mail, as bench_notices.py's overhead part): the SQL statements it runs with the notice hooks on, and
the functions that take the CPU time (cProfile over N transitions). Not part of the test run.

    .venv/bin/python bench/bench_transition.py                      # SQLite file /tmp/bench_transition.db
    .venv/bin/python bench/bench_transition.py --transitions 100 --top 25
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/casework_bench_transition \\
        .venv/bin/python bench/bench_transition.py
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "bench-only-key")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_notices import fresh_database, make_app  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transitions", type=int, default=100)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    app = make_app(os.environ.get("BENCH_DATABASE_URL", "sqlite:////tmp/bench_transition.db"))
    fresh_database(app)
    from sqlalchemy import event, select

    from casework.extensions import db
    from casework.models import Building, Category, NoticeChannel, NoticeSubscription, User
    from casework.services import intake, transitions
    with app.app_context():
        b = db.session.scalars(select(Building).where(Building.property_company_id.is_not(None))
                               .order_by(Building.id)).first()
        db.session.add(NoticeChannel(name="org robot", kind="wecom", organisation_id=b.property_company_id,
                                     config={"webhook_url": "http://127.0.0.1:9/?key=k"}))
        mail = NoticeChannel(name="mail", kind="smtp", config={"host": "127.0.0.1", "sender": "a@b.cn"})
        db.session.add(mail)
        db.session.flush()
        for u in db.session.scalars(select(User).where(User.role == "handler")):
            db.session.add(NoticeSubscription(user_id=u.id, channel_id=mail.id, address=f"{u.username}@example.cn"))
        staff = next(u for u in db.session.scalars(select(User).where(User.role == "grid_staff")) if b.grid in u.grids)
        leader = next(u for u in db.session.scalars(select(User).where(User.role == "building_leader"))
                      if b in u.buildings)
        cat = db.session.scalars(select(Category).order_by(Category.id)).first()
        cases = []
        for _ in range(args.transitions + 1):
            case = intake.create_case(staff, title="bench", description="", category_id=cat.id, building_id=b.id)
            transitions.fire(staff, case, "sign", {}, version=case.version)
            transitions.fire(staff, case, "dispatch", {}, version=case.version)
            cases.append(case)
        db.session.commit()
        org = str(b.property_company_id)

        statements: list[str] = []

        def keep(conn, cursor, statement, parameters, context, executemany):
            statements.append(" ".join(statement.split())[:160])
        event.listen(db.engine, "before_cursor_execute", keep)
        transitions.fire(leader, cases[0], "hand_on", {"organisation": org}, version=cases[0].version)
        db.session.commit()
        event.remove(db.engine, "before_cursor_execute", keep)
        print(f"{len(statements)} statements in one hand_on (with its commit):")
        for s in statements:
            print("  ", s)

        profile = cProfile.Profile()
        profile.enable()
        for case in cases[1:]:
            transitions.fire(leader, case, "hand_on", {"organisation": org}, version=case.version)
            db.session.commit()
        profile.disable()
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(args.top)
        print(out.getvalue())


if __name__ == "__main__":
    main()
