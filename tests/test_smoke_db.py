"""The demo data and the fixtures themselves."""
from sqlalchemy import func, select

from casework.extensions import db
from casework.models import Building, Case, Community, Grid, Organisation
from casework.workflow import STATUSES


def test_demo_data_covers_every_state(session):
    counts = dict(db.session.execute(select(Case.status, func.count()).group_by(Case.status)).all())
    assert set(counts) == set(STATUSES)
    assert sum(counts.values()) >= 300
    assert db.session.scalar(select(func.count()).select_from(Community)) >= 2
    assert db.session.scalar(select(func.count()).select_from(Grid)) >= 4
    assert db.session.scalar(select(func.count()).select_from(Building)) >= 24
    kinds = [k for (k,) in db.session.execute(select(Organisation.kind))]
    assert kinds.count("property") == 2 and len(kinds) - 2 >= 2


def test_rollback_isolation_part1(session, make_case):
    make_case(title="隔离测试")
    assert db.session.scalar(select(func.count()).where(Case.title == "隔离测试")) == 1


def test_rollback_isolation_part2(session):
    assert db.session.scalar(select(func.count()).where(Case.title == "隔离测试")) == 0
