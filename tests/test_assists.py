"""Lead and assisting handlers (主办 / 协办): who asks, who sees, notes and parts done, the lead's
report-done, boards, the ETag and the dashboard's figures — on SQLite and PostgreSQL.

Story: a case in louzhang01's building is led by 万家物业 (wuye01); the partner of hehuo01 is asked to
assist. Outside: wangge02 (another grid), hehuo01 before it is asked, the admin.
"""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import select

from case_steps import case_in, field, org_of, parse, snapshot, user
from casework import access
from casework.extensions import db
from casework.models import Case, CaseAssist, CaseEvent, Notification, Organisation
from casework.models.people import ROLES
from casework.services import assists, boards, transitions
from casework.services.queries import CaseFilters
from casework.services.reports import Period, Scope, assist_rows
from casework.timekeeping import now


def handling_case(accepted: bool = True) -> Case:
    """A case led by 万家物业 (wuye01's organisation), in handling."""
    return case_in("handling", user("louzhang01").buildings[0], organisation=org_of("wuye01"), accepted=accepted)


def partner() -> Organisation:
    return org_of("hehuo01")


def ask(case: Case, by: str = "wuye01", org: Organisation | None = None) -> CaseAssist:
    part = assists.request_assist(user(by), case, str((org or partner()).id), "请协助清理")
    db.session.commit()
    return part


def parts(case_id: int) -> list[CaseAssist]:
    return list(db.session.scalars(select(CaseAssist).where(CaseAssist.case_id == case_id)))


def timeline(case_id: int) -> list[str]:
    return list(db.session.scalars(select(CaseEvent.event).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)))


# ---- asking an organisation to assist: every role, inside and outside -------------------------------------

# who: expected status of POST /cases/<id>/assists (200 added, 409 refused in scope, 404 outside it)
REQUESTERS = {"wangge01": 200, "wuye01": 200, "shequ01": 200, "jiedao": 200,
              "louzhang01": 409, "wangge02": 404, "hehuo01": 404, "admin": 404}


@pytest.mark.parametrize("who", list(REQUESTERS))
def test_who_may_ask_an_organisation_to_assist(app, session, login_as, who):
    case = handling_case()
    case_id, partner_id = case.id, partner().id
    client = login_as(who)
    response = client.post(f"/cases/{case_id}/assists", {"organisation": partner_id, "note": "请协助清理"}, htmx=True)
    want = REQUESTERS[who]
    assert response.status_code == want
    if want == 200:
        [part] = parts(case_id)
        assert (part.organisation_id, part.requested_by.username, part.note) == (partner_id, who, "请协助清理")
        assert part.due_at == db.session.get(Case, case_id).stage_due_at
        assert timeline(case_id)[-1] == "assist_requested"
        block = parse(response.text).find(id=f"case-{case_id}-assists")
        assert block is not None and "协助" in block.text and org_of("hehuo01").name in block.text
        # the assisting organisation's handlers hear of it (in-app; their channels through the outbox)
        told = db.session.scalars(select(Notification).where(Notification.case_id == case_id,
                                                             Notification.kind == "assist_requested")).all()
        assert {n.user_id for n in told} == {user("hehuo01").id}
    else:
        assert parts(case_id) == [] and "assist_requested" not in timeline(case_id)
        if want == 404:
            assert "您要找的内容不存在，或不在您的辖区内。" in response.text
        else:
            assert "当前不能为本案件添加协办单位。" in response.text


def test_the_form_is_offered_exactly_to_those_who_may_ask(app, session, login_as):
    case = handling_case()
    for who, want in (("wuye01", True), ("wangge01", True), ("shequ01", True), ("louzhang01", False)):
        page = login_as(who).get(f"/cases/{case.id}")
        assert page.status_code == 200
        assert (field(page.text, f"assist-org-{case.id}") is not None and
                parse(page.text).find("form", **{"class": "assist-request-form"}) is not None) == want, who


def test_unsafe_requests_need_the_csrf_token(app, session, login_as):
    case = handling_case()
    response = login_as("wuye01").post(f"/cases/{case.id}/assists", {"organisation": partner().id}, csrf=False)
    assert response.status_code == 400 and parts(case.id) == []


def test_an_unknown_organisation_is_refused_next_to_the_field_and_the_note_kept(app, session, login_as):
    case = handling_case()
    before = snapshot(case.id)
    response = login_as("wuye01").post(f"/cases/{case.id}/assists", {"organisation": "999999", "note": "请协助清理垃圾"},
                                       htmx=True)
    assert response.status_code == 422
    block = field(response.text, f"assist-org-{case.id}")
    assert block.find("select").get("aria-invalid") == "true"
    assert "请选择协办单位。" in block.find(id=f"assist-org-{case.id}-error").text
    assert field(response.text, f"assist-req-note-{case.id}").find("textarea").text == "请协助清理垃圾"
    assert parts(case.id) == [] and snapshot(case.id) == before


@pytest.mark.parametrize("org", ["lead", "twice"])
def test_the_lead_or_an_organisation_already_assisting_cannot_be_asked_again(app, session, login_as, org):
    case = handling_case()
    if org == "twice":
        ask(case)
    target = org_of("wuye01") if org == "lead" else partner()
    response = login_as("wangge01").post(f"/cases/{case.id}/assists", {"organisation": target.id}, htmx=True)
    assert response.status_code == 409
    assert "已经在办理本案件，不能重复添加。" in response.text and target.name in response.text
    assert len(parts(case.id)) == (1 if org == "twice" else 0)


def test_nobody_asks_while_the_case_is_not_with_a_handler(app, session, login_as):
    case = case_in("building_leader", user("louzhang01").buildings[0])
    response = login_as("wangge01").post(f"/cases/{case.id}/assists", {"organisation": partner().id}, htmx=True)
    assert response.status_code == 409 and parts(case.id) == []


# ---- the assisting organisation: sees, writes, reports its part ---------------------------------------------

def test_the_assisting_organisation_sees_the_case_only_once_asked(app, session, login_as):
    case = handling_case()
    hehuo = login_as("hehuo01")
    assert hehuo.get(f"/cases/{case.id}").status_code == 404
    ask(case)
    page = hehuo.get(f"/cases/{case.id}")
    assert page.status_code == 200 and case.number in page.text
    # it works its part, not the case: no workflow buttons, but the part's forms and the photo upload
    doc = parse(page.text)
    assert doc.find("form", **{"class": "assist-done-form"}) is not None
    assert doc.find("form", **{"class": "photo-upload"}) is not None
    assert access.events_for(user("hehuo01"), db.session.get(Case, case.id)) == []
    # another handler organisation that is not asked still does not see it
    other = db.session.scalars(select(Organisation).where(
        Organisation.id.not_in([org_of("wuye01").id, partner().id]))).first()
    assert not access.can_view(access.Jurisdiction(role="handler", user_id=1, organisation_id=other.id), case)


def test_the_assisting_organisation_writes_notes_and_reports_its_part_done(app, session, login_as):
    case = handling_case()
    part = ask(case)
    hehuo = login_as("hehuo01")
    empty = hehuo.post(f"/cases/{case.id}/assists/{part.id}/notes", {"note": "  "}, htmx=True)
    assert empty.status_code == 422 and "请填写进展。" in empty.text
    noted = hehuo.post(f"/cases/{case.id}/assists/{part.id}/notes", {"note": "已到现场查看"}, htmx=True)
    assert noted.status_code == 200 and "已到现场查看" in noted.text
    db.session.refresh(part)
    no_note = hehuo.post(f"/cases/{case.id}/assists/{part.id}/done", {"done_note": "", "version": part.version},
                         htmx=True)
    assert no_note.status_code == 422 and "请说明协办完成的情况。" in no_note.text
    stale = hehuo.post(f"/cases/{case.id}/assists/{part.id}/done", {"done_note": "已清理", "version": 0}, htmx=True)
    assert stale.status_code == 409
    done = hehuo.post(f"/cases/{case.id}/assists/{part.id}/done", {"done_note": "已清理完毕", "version": part.version},
                      htmx=True)
    assert done.status_code == 200
    db.session.refresh(part)
    assert part.state == "done" and part.done_note == "已清理完毕" and part.done_by.username == "hehuo01"
    assert timeline(case.id)[-2:] == ["assist_note", "assist_done"]
    # the lead hears of it
    assert db.session.scalars(select(Notification).where(
        Notification.case_id == case.id, Notification.kind == "assist_done",
        Notification.user_id == user("wuye01").id)).first() is not None
    # a part done is done: no second report, and other people cannot report it
    again = hehuo.post(f"/cases/{case.id}/assists/{part.id}/done", {"done_note": "x", "version": part.version},
                       htmx=True)
    assert again.status_code == 409


@pytest.mark.parametrize("who,want", [("wuye01", 409), ("wangge01", 409), ("wangge02", 404), ("admin", 404)])
def test_only_the_assisting_organisation_reports_its_part(app, session, login_as, who, want):
    case = handling_case()
    part = ask(case)
    response = login_as(who).post(f"/cases/{case.id}/assists/{part.id}/done",
                                  {"done_note": "已完成", "version": part.version}, htmx=True)
    assert response.status_code == want
    db.session.refresh(part)
    assert part.is_open


def test_a_part_of_another_case_reads_as_missing(app, session, login_as):
    case, other = handling_case(), handling_case()
    part = ask(other)
    response = login_as("hehuo01").post(f"/cases/{case.id}/assists/{part.id}/done",
                                        {"done_note": "x", "version": part.version}, htmx=True)
    assert response.status_code == 404


# ---- the lead reports the whole case done -------------------------------------------------------------------

def test_the_lead_waits_for_every_part_or_says_why_not(app, session, login_as):
    case = handling_case()
    ask(case)
    lead = login_as("wuye01")
    form = lead.get(f"/cases/{case.id}/events/report_done/form", headers={"HX-Request": "true"})
    assert form.status_code == 200 and partner().name in form.text and field(form.text, f"f-{case.id}-report_done-assist-reason") is not None
    refused = lead.post(f"/cases/{case.id}/events/report_done", {"note": "已修好", "version": case.version}, htmx=True)
    assert refused.status_code == 422
    error = parse(refused.text).find(id=f"f-{case.id}-report_done-assist-reason-error")
    assert error is not None and partner().name in error.text and "原因" in error.text
    assert field(refused.text, f"f-{case.id}-report_done-note").find("textarea").text == "已修好"  # typed input kept
    db.session.refresh(case)
    assert case.status == "handling"
    ok = lead.post(f"/cases/{case.id}/events/report_done",
                   {"note": "已修好", "assist_reason": "协办单位的部分已不需要", "version": case.version}, htmx=True)
    assert ok.status_code == 200
    db.session.refresh(case)
    [part] = parts(case.id)
    assert case.status == "resolved" and part.state == "waived" and part.waived_reason == "协办单位的部分已不需要"
    assert timeline(case.id)[-2:] == ["report_done", "assist_waived"]


def test_the_lead_reports_done_without_a_reason_once_every_part_is_in(app, session):
    case = handling_case()
    part = ask(case)
    assists.report_part_done(user("hehuo01"), case, part, "已完成", part.version)
    db.session.commit()
    transitions.fire(user("wuye01"), case, "report_done", {"note": "已修好"}, version=case.version)
    db.session.commit()
    assert case.status == "resolved" and "assist_waived" not in timeline(case.id)


# ---- boards: the assisting column, the card's mark, the ETag ------------------------------------------------

def test_the_assisting_column_shows_the_case_and_the_etag_moves_with_the_part(app, session, login_as):
    case = handling_case()
    j = access.Jurisdiction.of(user("hehuo01"))
    f = CaseFilters()
    before = boards.etag(j, f)
    part = ask(case)
    asked = boards.etag(j, f)
    assert asked != before
    board = login_as("hehuo01").get("/board/")
    column = parse(board.text).find(id="col-assisting") or parse(board.text).find(**{"data-column": "assisting"})
    card = parse(board.text).find(id=f"card-{case.id}")
    assert card is not None and card.get("data-column") == "assisting", column
    mark = card.find(**{"class": "kcard-assist"})
    assert mark is not None and mark.get("data-assist") == "0/1" and mark.get("data-assist-mine") == "open"
    # the lead's card carries the mark too
    lead_card = parse(login_as("wuye01").get("/board/").text).find(id=f"card-{case.id}")
    assert lead_card.find(**{"class": "kcard-assist"}).get("data-assist") == "0/1"
    # a note and the part done each change the ETag (the case itself does not change)
    version = db.session.get(Case, case.id).version
    assists.add_note(user("hehuo01"), case, part, "进展")
    db.session.commit()
    noted = boards.etag(j, f)
    assert noted != asked
    assists.report_part_done(user("hehuo01"), case, part, "完成", part.version)
    db.session.commit()
    assert boards.etag(j, f) != noted
    assert boards.etag(access.Jurisdiction.of(user("wuye01")), f) != before
    assert db.session.get(Case, case.id).version == version
    card = parse(login_as("hehuo01").get("/board/").text).find(id=f"card-{case.id}")
    assert card.find(**{"class": "kcard-assist"}).get("data-assist-mine") == "done"


# ---- the jurisdiction: Python and SQL stay one rule with assisting parts ------------------------------------

def _with_parts() -> list[Case]:
    cases = [handling_case() for _ in range(2)]
    ask(cases[0])
    ask(cases[1], org=db.session.scalars(select(Organisation).where(
        Organisation.id.not_in([org_of("wuye01").id, partner().id]), Organisation.kind != "property")).first()
        or partner())
    return cases


def test_contains_equals_clause_for_every_user_with_assisting_parts(session):
    _with_parts()
    cases = list(db.session.scalars(select(Case)))
    for u in db.session.scalars(select(access.User)):
        j = access.Jurisdiction.of(u)
        selected = set(db.session.scalars(select(Case.id).where(j.clause())))
        assert {c.id for c in cases if j.contains(c)} == selected, u.username
        ps = [set(db.session.scalars(select(Case.id).where(p))) for p in j.parts()]
        assert sum(map(len, ps)) == len(selected) and set().union(*ps) == selected, u.username


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_handler_jurisdiction_agrees_with_its_clause(session, data):
    if not db.session.scalar(select(CaseAssist.id).limit(1)):
        _with_parts()
    cases = list(db.session.scalars(select(Case)))
    orgs = sorted({o for c in cases for o in (c.assigned_org_id, c.returned_org_id) if o}
                  | set(db.session.scalars(select(CaseAssist.organisation_id))))
    j = access.Jurisdiction(role=data.draw(st.sampled_from(ROLES)), user_id=1,
                            organisation_id=data.draw(st.none() | st.sampled_from(orgs + [999_999])))
    selected = set(db.session.scalars(select(Case.id).where(j.clause())))
    assert {c.id for c in cases if j.contains(c)} == selected


# ---- the dashboard: each organisation's parts, against a hand-made set --------------------------------------

def test_assisting_parts_per_organisation_match_a_hand_made_set(app, session, login_as):
    """Four parts for the partner, one for another organisation, one asked before the period:

    partner: done on time, done late, waived, open → asked 4, done 2, judged 2, on time 1, waived 1, open 1.
    """
    t = now().replace(tzinfo=None, microsecond=0)
    hour = dt.timedelta(hours=1)
    mine = partner()
    other = db.session.scalars(select(Organisation).where(
        Organisation.id.not_in([org_of("wuye01").id, mine.id]))).first()
    made = [
        (mine, dict(due_at=t + hour, done_at=t)),
        (mine, dict(due_at=t - 2 * hour, done_at=t - hour)),
        (mine, dict(due_at=t + hour, waived_at=t, waived_reason="不需要了")),
        (mine, dict(due_at=t + hour)),
        (other, dict(due_at=None, done_at=t)),
    ]
    for org, values in made:
        case = handling_case()
        db.session.add(CaseAssist(case_id=case.id, organisation_id=org.id, requested_at=t - 3 * hour,
                                  updated_at=t, **values))
    old = handling_case()
    db.session.add(CaseAssist(case_id=old.id, organisation_id=mine.id, requested_at=t - dt.timedelta(days=60),
                              updated_at=t))
    db.session.commit()
    period = Period(t.date() - dt.timedelta(days=6), t.date())
    rows = {r.organisation_id: r for r in assist_rows(user("shequ01"), Scope(), period)}
    r = rows[mine.id]
    assert (r.requested, r.done, r.judged, r.on_time, r.waived, r.open) == (4, 2, 2, 1, 1, 1)
    assert r.on_time_rate == 0.5
    o = rows[other.id]
    assert (o.requested, o.done, o.judged, o.on_time, o.on_time_rate) == (1, 1, 0, 0, None)
    # the assisting organisation itself sees its own parts (on cases it does not lead)
    own = {r.organisation_id: r for r in assist_rows(user("hehuo01"), Scope(), period)}
    assert own[mine.id].requested == 4
    # and the dashboard page shows the row
    page = login_as("shequ01").get("/reports/", query_string={"from": period.start.isoformat(),
                                                               "to": period.end.isoformat()})
    assert page.status_code == 200
    row = parse(page.text).find(id=f"assist-org-{mine.id}")
    cells = [c.text.strip() for c in row.find_all("td")]
    assert cells == ["4", "2", "1", "50%", "1", "1"]


def test_without_javascript_a_post_goes_back_to_the_case_page(app, session, login_as):
    case = handling_case()
    client = login_as("wuye01")
    bad = client.post(f"/cases/{case.id}/assists", {"organisation": ""})
    assert bad.status_code == 422 and "请选择协办单位。" in bad.text and parts(case.id) == []
    ok = client.post(f"/cases/{case.id}/assists", {"organisation": partner().id})
    assert ok.status_code == 303 and ok.headers["Location"].endswith(f"/cases/{case.id}")
    assert len(parts(case.id)) == 1
