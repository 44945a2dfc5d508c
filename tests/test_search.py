"""Staff find a case by the resident's tracking code, name or (if they may reveal phones) full phone number."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from case_steps import new_case, user
from casework.extensions import db
from casework.models import AuditEntry, Case
from casework.services.queries import full_phone

PHONE = "13877775678"


def _case(title="楼道灯不亮"):
    case = new_case(user("louzhang01").buildings[0], title=title, phone=PHONE)
    db.session.get(Case, case.id).reporter_name = "欧阳修竹"
    db.session.commit()
    return db.session.get(Case, case.id)


def _audits():
    return db.session.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.action == "phone.search"))


def test_tracking_code_and_name_find_the_case(app, session, login_as):
    case = _case()
    client = login_as("wangge01")
    by_code = client.get(f"/cases/?q={case.tracking_code.lower()}")
    by_name = client.get("/cases/?q=欧阳修")
    assert case.number in by_code.text and case.number in by_name.text
    assert case.number in client.get("/board/?q=欧阳修").text
    assert case.number not in client.get("/board/?q=司马光").text


def test_full_phone_finds_the_case_and_is_recorded(app, session, login_as):
    case = _case()
    before = _audits()
    client = login_as("wangge01")
    page = client.get("/cases/?q=138-7777-5678")
    assert case.number in page.text
    assert PHONE not in page.text  # found by it, still masked on the page
    assert _audits() == before + 1
    entry = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert entry.actor_name == "wangge01" and PHONE not in entry.details


@pytest.mark.parametrize("name", ["wuye01", "louzhang01"])
def test_phone_search_is_not_offered_to_those_who_may_not_reveal(app, session, name, login_as):
    case = _case()  # in louzhang01's building: the leader sees it, yet may not look it up by phone
    client = login_as(name)
    page = client.get(f"/cases/?q={PHONE}")
    assert page.status_code == 200
    assert case.number not in page.text
    assert not db.session.scalar(select(func.count(AuditEntry.id)).where(
        AuditEntry.action == "phone.search", AuditEntry.actor_name == name))


def test_phone_search_stays_inside_the_scope(app, session, login_as):
    case = _case()
    page = login_as("wangge02").get(f"/cases/?q={PHONE}")
    assert case.number not in page.text


@pytest.mark.parametrize("raw, expected", [
    ("13877775678", "13877775678"), ("138 7777 5678", "13877775678"), ("010-12345678", "01012345678"),
    ("1387777567", ""), ("2026-0001", ""), ("王女士", ""),
])
def test_full_phone_shape(raw, expected):
    assert full_phone(raw) == expected
