"""Two requests racing on one case, each in its own database transaction (two workers of gunicorn).

Both load the case at the same version before either commits, so the version the user sent matches
in both; the database must still let only one of them through, and the other gets a readable 409.
This needs real concurrent transactions, so it runs on a database of its own, not in the
rolled-back `session` fixture.
"""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from casework.extensions import db
from casework.models import Case, CaseEvent, Category, User
from casework.services import intake, transitions
from casework.services.errors import Stale
from dbtools import BACKENDS, app_on, throwaway_database

@pytest.fixture(params=BACKENDS)
def race_app(request, tmp_path):
    """An app on a database of its own holding the demo places and people (no cases)."""
    with throwaway_database(request.param, tmp_path, "race") as url, app_on(url, tmp_path / "uploads") as app:
        with app.app_context():
            db.create_all()
            from casework.services.demo import load_places_and_people
            load_places_and_people()
            db.session.commit()
        yield app


def _staff() -> User:
    return db.session.scalars(select(User).where(User.username == "wangge01")).one()


def test_concurrent_updates_with_the_same_version(race_app, request):
    with race_app.app_context():
        staff = _staff()
        category = db.session.scalars(select(Category).where(Category.code == "facilities")).one()
        case = intake.create_case(staff, title="并发测试", description="", category_id=category.id,
                                  building_id=staff.grids[0].buildings[0].id, channel="phone")
        db.session.commit()
        case_id, version = case.id, case.version

    first_loaded, second_loaded, first_done = threading.Event(), threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def worker(name: str, event: str, data: dict) -> None:
        # Each worker is one POST request with its own session and transaction.
        with race_app.test_request_context(f"/cases/{case_id}/events/{event}", method="POST"):
            try:
                if name == "second":
                    first_loaded.wait(timeout=10)
                case = db.session.get(Case, case_id)
                if name == "first":
                    first_loaded.set()
                    # Give the second request the chance to read the same version (a database that
                    # serialises writers from the start may make it wait instead; both are fine).
                    second_loaded.wait(timeout=1)
                else:
                    second_loaded.set()
                    first_done.wait(timeout=10)
                transitions.fire(_staff(), case, event, data, version=version)
                db.session.commit()
                outcome[name] = "ok"
            except Exception as exc:  # Stale is expected for the second; anything else would be a 500
                db.session.rollback()
                outcome[name] = exc
            finally:
                if name == "first":
                    first_loaded.set()
                    first_done.set()
                db.session.remove()

    threads = [threading.Thread(target=worker, args=("first", "sign", {})),
               threading.Thread(target=worker, args=("second", "reject",
                                                     {"reason": "invalid_report", "note": "无效"}))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert outcome["first"] == "ok"
    assert isinstance(outcome["second"], Stale), repr(outcome["second"])
    assert "请刷新后再操作" in str(outcome["second"].message)
    with race_app.app_context():
        case = db.session.get(Case, case_id)
        assert case.status == "triage" and case.resolution is None
        events = db.session.scalars(select(CaseEvent.event).where(CaseEvent.case_id == case_id)
                                    .order_by(CaseEvent.id)).all()
        assert events == ["report", "sign"]
        assert db.session.scalar(select(func.count()).select_from(CaseEvent)) == 2
