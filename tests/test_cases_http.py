"""Case pages over HTTP: stale versions, bad input, refused events, and residents' phones masked."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from case_steps import case_in, field, parse, selected, new_case, seen_version, snapshot, user
from casework.extensions import db
from casework.models import Case, CaseEvent, Category, User


def _here():
    return user("louzhang01").buildings[0]


def _assert_readable(response):
    """A page a person can read: Chinese text, no traceback, no framework English."""
    assert "Traceback" not in response.text
    assert "Bad Request" not in response.text and "Internal Server Error" not in response.text
    assert re.search(r"[\u4e00-\u9fff]{4,}", response.text)


# ---- two updates with the same version --------------------------------------------------------

@pytest.fixture
def second_grid_worker(session):
    """A second grid worker on wangge01's grid (the night shift), so two people may act on one case."""
    u = User(username="wangge01b", display_name="网格员 夜班小周", role="grid_staff", grids=list(user("wangge01").grids))
    u.set_password("demo")
    db.session.add(u)
    db.session.commit()
    return u.username


@pytest.mark.parametrize("second_event,second_data", [
    ("sign", {}),
    ("reject", {"reason": "invalid_report", "note": "无效诉求"}),
], ids=["same-event", "other-event"])
def test_second_update_with_same_version_is_refused(app, session, second_grid_worker, second_event, second_data, login_as):
    case = new_case(_here())
    case_id = case.id
    first, second = login_as("wangge01"), login_as(second_grid_worker)
    # Both open the case and see the same version.
    v1 = seen_version(first.get(f"/cases/{case_id}").text, case_id)
    v2 = seen_version(second.get(f"/cases/{case_id}").text, case_id)
    assert v1 == v2
    ok = first.post(f"/cases/{case_id}/events/sign", {"version": v1}, htmx=True)
    assert ok.status_code == 200
    after_first = snapshot(case_id)

    late = second.post(f"/cases/{case_id}/events/{second_event}", {"version": v2, **second_data}, htmx=True)
    assert late.status_code == 409
    assert late.headers["HX-Retarget"] == "#alerts"
    assert user("wangge01").display_name in late.text, "the message says who changed it"
    assert "请刷新后再操作" in late.text
    _assert_readable(late)
    assert snapshot(case_id) == after_first
    events = db.session.scalars(select(CaseEvent.event).where(CaseEvent.case_id == case_id)
                                .order_by(CaseEvent.id)).all()
    assert events == ["report", "sign"]

    # After a refresh the second worker acts on what is really there.
    fresh = second.get(f"/cases/{case_id}")
    assert seen_version(fresh.text, case_id) > v1 and "网格研判" in fresh.text


def test_missing_or_garbled_version_is_refused(app, session, login_as):
    case = new_case(_here())
    client = login_as("wangge01")
    before = snapshot(case.id)
    for data in ({}, {"version": "abc"}, {"version": "0"}):
        response = client.post(f"/cases/{case.id}/events/sign", data, htmx=True)
        assert response.status_code == 409, data
        _assert_readable(response)
    assert snapshot(case.id) == before


# ---- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["/cases/999999", "/cases/999999/events/sign/form", "/cases/abc", "/nowhere"])
def test_unknown_case_is_a_readable_404(app, session, url, login_as):
    client = login_as("wangge01")
    page = client.get(url)
    assert page.status_code == 404
    assert "找不到页面" in page.text and "<html" in page.text
    _assert_readable(page)
    fragment = client.get(url, headers={"HX-Request": "true"})
    assert fragment.status_code == 404
    assert fragment.headers["HX-Retarget"] == "#alerts" and "<html" not in fragment.text
    assert "找不到页面" in fragment.text


def test_unknown_event_is_404_and_changes_nothing(app, session, login_as):
    case = new_case(_here())
    client = login_as("wangge01")
    before = snapshot(case.id)
    response = client.post(f"/cases/{case.id}/events/teleport", {"version": case.version}, htmx=True)
    assert response.status_code == 404
    assert snapshot(case.id) == before


def test_disallowed_event_is_409_and_changes_nothing(app, session, login_as):
    """Closing a case that was only just reported: refused, readable, nothing written."""
    case = new_case(_here())
    client = login_as("wangge01")
    before = snapshot(case.id)
    for event, data in (("close", {"satisfaction": "satisfied"}), ("report_done", {"note": "好了"}),
                        ("dispatch", {})):
        response = client.post(f"/cases/{case.id}/events/{event}", {"version": case.version, **data}, htmx=True)
        assert response.status_code == 409, event
        assert response.headers["HX-Retarget"] == "#alerts"
        assert "操作未完成" in response.text and "执行此操作" in response.text
        _assert_readable(response)
    assert snapshot(case.id) == before
    # Without htmx (a plain form post) the answer is still a readable 409.
    plain = client.post(f"/cases/{case.id}/events/close", {"version": case.version, "satisfaction": "satisfied"})
    assert plain.status_code == 409
    _assert_readable(plain)


def test_event_needing_a_reason_comes_back_with_the_form_and_the_error(app, session, login_as):
    case = case_in("building_leader", _here())
    client = login_as("louzhang01")
    before = snapshot(case.id)
    response = client.post(f"/cases/{case.id}/events/return_case",
                           {"version": case.version, "reason": "", "note": "楼栋长已上门看过"}, htmx=True)
    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == f"#case-{case.id}-action"
    assert f'id="case-{case.id}-form-return_case"' in response.text
    assert "请选择原因。" in response.text
    assert "楼栋长已上门看过" in response.text, "the typed note is kept"
    assert f'name="version" value="{case.version}"' in response.text, "the version the user saw is kept"
    assert snapshot(case.id) == before

    # "Other" needs a written explanation.
    response = client.post(f"/cases/{case.id}/events/return_case",
                           {"version": case.version, "reason": "other", "note": ""}, htmx=True)
    assert response.status_code == 422
    assert "原因为“其他”时请写明。" in response.text
    assert selected(response.text, "reason") == ["other"], "the chosen reason is kept"

    # A note that must be written.
    response = client.post(f"/cases/{case.id}/events/resolve", {"version": case.version, "note": "  "}, htmx=True)
    assert response.status_code == 422 and "请填写说明。" in response.text

    # An organisation that does not exist.
    response = client.post(f"/cases/{case.id}/events/hand_on", {"version": case.version, "organisation": "99999"},
                           htmx=True)
    assert response.status_code == 422 and "请选择承办单位。" in response.text
    assert snapshot(case.id) == before

    # Fixed, the same form goes through.
    response = client.post(f"/cases/{case.id}/events/return_case",
                           {"version": case.version, "reason": "insufficient_info", "note": ""}, htmx=True)
    assert response.status_code == 200 and "网格研判" in response.text


def test_intake_errors_next_to_the_fields_with_input_kept(app, session, login_as):
    client = login_as("wangge01")
    category = db.session.scalars(select(Category).where(Category.code == "sanitation")).one()
    count = db.session.scalar(select(db.func.count()).select_from(Case))
    response = client.post("/intake/new", {
        "title": "", "description": "垃圾桶满了三天没人清", "category_id": category.id, "priority": "urgent",
        "channel": "walk_in", "building_id": _here().id, "unit": "2单元", "reporter_name": "赵大爷",
        "reporter_phone": "12345",
    })
    assert response.status_code == 422
    html = response.text
    # Each message sits in the field's own block, right after its input.
    title_block, phone_block = field(html, "title"), field(html, "reporter_phone")
    assert "has-error" in title_block.get("class") and "请填写标题。" in title_block.text
    assert "has-error" in phone_block.get("class") and "请输入 11 位手机号码。" in phone_block.text
    assert phone_block.find("input").get("value") == "12345"
    # What was typed is still there.
    assert "垃圾桶满了三天没人清" in html and 'value="赵大爷"' in html and 'value="2单元"' in html
    assert selected(html, "category_id") == [str(category.id)]
    assert selected(html, "channel") == ["walk_in"]
    assert db.session.scalar(select(db.func.count()).select_from(Case)) == count


def test_intake_refuses_a_building_outside_the_jurisdiction(app, session, login_as):
    client = login_as("wangge02")
    category = db.session.scalars(select(Category).where(Category.code == "sanitation")).one()
    response = client.post("/intake/new", {"title": "楼道堆物", "category_id": category.id, "channel": "phone",
                                           "building_id": _here().id})
    assert response.status_code == 422
    assert 'value="楼道堆物"' in response.text
    block = field(response.text, "building_id")
    assert "has-error" in block.get("class")
    assert re.search(r"[\u4e00-\u9fff]", block.find("p", class_="field-error").text), "a Chinese message"


def test_intake_too_long_input_is_refused_in_chinese(app, session, login_as):
    client = login_as("wangge01")
    category = db.session.scalars(select(Category).where(Category.code == "sanitation")).one()
    response = client.post("/intake/new", {"title": "长" * 121, "category_id": category.id, "channel": "phone",
                                           "building_id": _here().id, "unit": "单" * 61})
    assert response.status_code == 422
    errors = [p.text for p in parse(response.text).find_all("p", class_="field-error")]
    assert len(errors) == 2 and all(re.search(r"[\u4e00-\u9fff]", e) for e in errors), errors


def test_intake_is_not_offered_to_building_leaders_and_handlers(app, session, login_as):
    for name in ("louzhang01", "wuye01", "hehuo01", "admin"):
        assert login_as(name).get("/intake/new").status_code == 404, name


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize("token", ["missing", "wrong"])
def test_bad_csrf_token_is_a_readable_400(app, session, token, htmx, login_as):
    case = new_case(_here())
    client = login_as("wangge01")
    before = snapshot(case.id)
    headers = {} if token == "missing" else {"X-CSRFToken": "not-the-token"}
    response = client.post(f"/cases/{case.id}/events/sign", {"version": case.version}, htmx=htmx,
                           csrf=False, headers=headers)
    assert response.status_code == 400
    assert "安全校验失败" in response.text
    _assert_readable(response)
    if htmx:
        assert response.headers["HX-Retarget"] == "#alerts" and "<html" not in response.text
    else:
        assert "<html" in response.text
    assert snapshot(case.id) == before


def test_csrf_token_of_another_session_is_refused(app, session, login_as):
    case = new_case(_here())
    mine, theirs = login_as("wangge01"), login_as("wangge02")
    response = mine.post(f"/cases/{case.id}/events/sign", {"version": case.version}, htmx=True,
                         csrf=False, headers={"X-CSRFToken": theirs.csrf()})
    assert response.status_code == 400
    assert snapshot(case.id)[0] == "reported"


# ---- residents' phones ---------------------------------------------------------------------------

PHONE = "13877771234"


@pytest.mark.parametrize("name", ["wangge01", "louzhang01", "wuye01", "shequ01", "jiedao"])
def test_phone_is_masked_on_staff_pages(app, session, name, login_as):
    case = case_in("handling", _here())
    db.session.get(Case, case.id).reporter_phone = PHONE
    db.session.commit()
    client = login_as(name)
    pages = [client.get(f"/cases/{case.id}"), client.get("/cases/"), client.get(f"/cases/?q={case.number}"),
             client.get(f"/cases/{case.id}", headers={"HX-Request": "true"}),
             client.get(f"/cases/{case.id}/events/report_done/form", headers={"HX-Request": "true"})]
    for page in pages:
        assert page.status_code in (200, 409)
        assert PHONE not in page.text
    assert "138****1234" in pages[0].text
    # The list shows no phone at all; the demo residents' numbers never appear either.
    phones = set(db.session.scalars(select(Case.reporter_phone).where(Case.reporter_phone.is_not(None))))
    listing = pages[1].text
    assert not [p for p in phones if p in listing]


# ---- without JavaScript ------------------------------------------------------------------------

def test_plain_form_posts_work_without_htmx(app, session, login_as):
    """No htmx: the buttons are links and forms; results are whole pages, and a reload does not re-post."""
    case = case_in("building_leader", _here())
    client = login_as("louzhang01")
    page = client.get(f"/cases/{case.id}").text
    form_url = f"/cases/{case.id}/events/return_case/form"
    assert f'href="{form_url}"' in page
    opened = client.get(form_url)
    assert opened.status_code == 200 and "<html" in opened.text
    assert f'id="case-{case.id}-form-return_case"' in opened.text
    bad = client.post(f"/cases/{case.id}/events/return_case", {"version": case.version, "note": "信息不全"})
    assert bad.status_code == 422 and "<html" in bad.text and "请选择原因。" in bad.text and "信息不全" in bad.text
    good = client.post(f"/cases/{case.id}/events/return_case",
                       {"version": case.version, "reason": "insufficient_info", "note": "信息不全"})
    assert good.status_code == 303 and good.headers["Location"] == f"/cases/{case.id}"
    assert snapshot(case.id)[0] == "triage"


def test_form_of_an_event_the_user_cannot_fire_is_refused(app, session, login_as):
    """A stale page still shows a button whose form no longer applies: say so at once."""
    case = case_in("triage", _here())
    client = login_as("louzhang01")
    response = client.get(f"/cases/{case.id}/events/return_case/form", headers={"HX-Request": "true"})
    assert response.status_code == 409 and response.headers["HX-Retarget"] == "#alerts"
    assert "请刷新页面" in response.text
    response = login_as("wangge01").get(f"/cases/{case.id}/events/reject/form", headers={"HX-Request": "true"})
    assert response.status_code == 200 and 'name="reason"' in response.text


def test_user_text_is_escaped(app, session, login_as):
    """What a resident said is shown as text, never run as markup."""
    client = login_as("wangge01")
    category = db.session.scalars(select(Category).where(Category.code == "other")).one()
    response = client.post("/intake/new", {"title": '<script>alert("x")</script>', "category_id": category.id,
                                           "channel": "phone", "building_id": _here().id,
                                           "description": "<img src=x onerror=alert(1)>"})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page and "&lt;img src=x onerror=alert(1)&gt;" in page
