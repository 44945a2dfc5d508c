"""A whole case through HTTP, each step by the person whose step it is, as their browser would send it."""
from __future__ import annotations

import re

from sqlalchemy import select

from case_steps import parse, seen_version, user
from casework.extensions import db
from casework.models import Case, CaseEvent, Category



def press(client, case_id: int, event: str, **fields) -> str:
    """Open the case as this user, press the event's button (filling its inline form), return the new panel."""
    page = client.get(f"/cases/{case_id}")
    assert page.status_code == 200
    url = f"/cases/{case_id}/events/{event}"
    assert url in page.text, f"no {event} button for this user"
    version = seen_version(page.text, case_id)
    if fields:
        # The button fetches the inline form; the form carries the version the user saw.
        form = client.get(f"{url}/form", headers={"HX-Request": "true"})
        assert form.status_code == 200 and f'hx-post="{url}"' in form.text
        version = int(parse(form.text).find("input", name="version").get("value"))
    response = client.post(url, {"version": version, **fields}, htmx=True)
    assert response.status_code == 200, response.text
    assert response.text.lstrip().startswith(f'<article id="case-{case_id}"'), "htmx gets the panel fragment only"
    assert response.headers.get("HX-Trigger") == "case-changed"
    return response.text


def test_case_from_intake_to_close(app, session, login_as):
    wangge = login_as("wangge01")
    louzhang = login_as("louzhang01")
    wuye = login_as("wuye01")
    building = user("louzhang01").buildings[0]
    category = db.session.scalars(select(Category).where(Category.code == "facilities")).one()
    wanjia = user("wuye01").organisation
    assert building.property_company_id == wanjia.id

    # Intake: a resident phones wangge01.
    form = wangge.get("/intake/new")
    assert form.status_code == 200 and 'name="title"' in form.text
    response = wangge.post("/intake/new", {
        "title": "3单元楼道声控灯不亮", "description": "晚上楼道一片漆黑，老人上下楼不安全。",
        "category_id": category.id, "priority": "", "channel": "phone", "building_id": building.id,
        "unit": "3单元502", "reporter_name": "刘阿姨", "reporter_phone": "139 1234 5678",
    })
    assert response.status_code == 302
    case_id = int(re.search(r"/cases/(\d+)$", response.headers["Location"]).group(1))
    page = wangge.get(f"/cases/{case_id}")
    assert "3单元楼道声控灯不亮" in page.text and "新上报" in page.text
    assert "139****5678" in page.text and "13912345678" not in page.text

    panel = press(wangge, case_id, "sign")
    assert "网格研判" in panel
    panel = press(wangge, case_id, "dispatch")
    assert "楼栋长处理" in panel

    # The building leader now sees it; the handler does not yet.
    assert wuye.get(f"/cases/{case_id}").status_code == 404
    panel = press(louzhang, case_id, "hand_on", organisation=wanjia.id, note="请物业尽快更换灯泡")
    assert "物业/合伙人办理" in panel and wanjia.name in panel

    panel = press(wuye, case_id, "accept")
    panel = press(wuye, case_id, "report_done", note="已更换声控灯，测试正常。")
    assert "待回访" in panel
    panel = press(wangge, case_id, "close", satisfaction="satisfied", note="电话回访，居民满意。")
    assert "已办结" in panel and "满意" in panel

    # The timeline on the detail page shows every step, who took it, and the notes.
    page = wangge.get(f"/cases/{case_id}").text
    timeline = page[page.index('class="timeline"'):]
    steps = ["上报", "签收", "派给楼栋长", "转交承办单位", "承办签收", "办结反馈", "回访办结"]
    positions = [timeline.index(f"<strong>{label}</strong>") for label in steps]
    assert positions == sorted(positions), "timeline is in the order things happened"
    for name in ("wangge01", "louzhang01", "wuye01"):
        assert user(name).display_name in timeline
    for note in ("请物业尽快更换灯泡", "已更换声控灯，测试正常。", "电话回访，居民满意。"):
        assert note in timeline
    assert "当前没有您可执行的操作。" in page

    # The database holds one event per step, with actor, from and to.
    db.session.expire_all()
    case = db.session.get(Case, case_id)
    assert (case.status, case.resolution, case.satisfaction) == ("closed", "solved", "satisfied")
    assert case.assigned_org_id == wanjia.id and case.handler_accepted_at is not None
    assert case.reporter_phone == "13912345678"
    rows = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)).all()
    assert [(r.event, r.actor.username, r.from_status, r.to_status) for r in rows] == [
        ("report", "wangge01", None, "reported"),
        ("sign", "wangge01", "reported", "triage"),
        ("dispatch", "wangge01", "triage", "building_leader"),
        ("hand_on", "louzhang01", "building_leader", "handling"),
        ("accept", "wuye01", "handling", "handling"),
        ("report_done", "wuye01", "handling", "resolved"),
        ("close", "wangge01", "resolved", "closed"),
    ]
    assert rows[3].organisation_id == wanjia.id
    assert rows[-1].note == "电话回访，居民满意。"
