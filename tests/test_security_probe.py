"""Findings of the security probe (issue 9 §5), each pinned by a test that failed before the fix."""
from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from sqlalchemy import select

from case_steps import case_in, new_case, snapshot, staff_of, user
from casework.extensions import db
from casework.models import Building, Case, CaseEvent, Organisation
from casework.models.cases import mask_phone, mask_phones

BIG = str(2**64)       # beyond a 64-bit id
HUGE = "9" * 40


def _building(community: str) -> Building:
    return db.session.scalars(select(Building).join(Building.grid).where(Building.name.startswith(community[:2]))
                              .order_by(Building.id)).first()


def _org(name_part: str) -> Organisation:
    return db.session.scalars(select(Organisation).where(Organisation.name.contains(name_part))).one()


# ---- dispatch_handler / hand_on: only organisations the form offers ------------------------------

@pytest.mark.parametrize("event,state", [("dispatch_handler", "triage"), ("hand_on", "building_leader")])
def test_case_cannot_go_to_another_communitys_property_company(app, session, event, state, login_as):
    building = _building("青松社区")  # served by 万家物业
    assert building.property_company.name.startswith("万家")
    case = case_in(state, building)
    actor = staff_of(building).username if event == "dispatch_handler" else "louzhang01"
    client = login_as(actor)
    before = snapshot(case.id)
    other = _org("安居物业")  # the other community's property company: not among the form's choices
    page = client.get(f"/cases/{case.id}/events/{event}/form", headers={"HX-Request": "true"})
    assert f'<option value="{other.id}"' not in page.text
    response = client.post(f"/cases/{case.id}/events/{event}", {"version": case.version, "organisation": other.id},
                           htmx=True)
    assert response.status_code == 422 and "请选择承办单位。" in response.text
    assert snapshot(case.id) == before
    # The other company's handler does not see it.
    assert login_as("wuye02").get(f"/cases/{case.id}").status_code == 404
    # A partner from the form's list is accepted.
    partner = _org("志愿维修队")
    response = client.post(f"/cases/{case.id}/events/{event}", {"version": case.version, "organisation": partner.id},
                           htmx=True)
    assert response.status_code == 200
    assert db.session.get(Case, case.id).assigned_org_id == partner.id


# ---- merge: a case outside the jurisdiction reads like an unknown number --------------------------

def test_merge_refuses_a_case_outside_the_jurisdiction_like_an_unknown_one(app, session, login_as):
    mine = new_case(user("wangge01").grids[0].buildings[0])
    elsewhere = new_case(_building("溪畔社区"), title="别的社区的案件")
    client = login_as("wangge01")
    before = snapshot(mine.id)
    answers = {}
    for label, number in (("unknown", "WG-NOPE-0001"), ("outside", elsewhere.number)):
        response = client.post(f"/cases/{mine.id}/events/merge", {"version": mine.version, "duplicate_of": number},
                               htmx=True)
        assert response.status_code == 422
        answers[label] = re.sub(f"(WG-NOPE-0001|{re.escape(elsewhere.number)})", "N", response.text)
        assert "请填写另一件案件的编号。" in response.text
    assert answers["unknown"] == answers["outside"]
    assert snapshot(mine.id) == before
    assert db.session.get(Case, mine.id).duplicate_of_id is None


# ---- phone numbers typed into free text ----------------------------------------------------------

MOBILE, LANDLINE = "13912345678", "0571-88776655"


def test_mask_phones_masks_like_the_phone_field():
    assert mask_phones(f"请拨打{MOBILE}或{LANDLINE}") == f"请拨打{mask_phone(MOBILE)}或{mask_phone('057188776655')}"
    assert mask_phones("电话 139 1234 5678，+86 139-1234-5678") == "电话 139****5678，139****5678"
    # Dates, room numbers and long order numbers are not phones.
    for text in ("2026-12-02", "3单元1201室", "订单20261202123456", "1号楼 2-301"):
        assert mask_phones(text) == text


@pytest.fixture
def chatty_case(session):
    """A case whose resident wrote numbers into every free-text field."""
    case = case_in("triage", user("wangge01").grids[0].buildings[0])
    row = db.session.get(Case, case.id)
    row.title = f"漏水 {MOBILE}"
    row.description = f"楼上漏水，请联系我 {MOBILE} 或座机 {LANDLINE}"
    row.unit = f"1单元 {MOBILE}"
    row.reporter_name = f"王{MOBILE}"
    db.session.add(CaseEvent(case_id=case.id, kind="comment", event="comment", actor=user("wangge01"),
                             from_status=row.status, to_status=row.status, note=f"已电话 {LANDLINE}", public=False,
                             created_at=row.updated_at))
    db.session.commit()
    return row


@pytest.mark.parametrize("name", ["wangge01", "shequ01", "jiedao"])
def test_phones_in_free_text_are_masked_everywhere(app, session, chatty_case, name, login_as):
    case = chatty_case
    client = login_as(name)
    pages = {
        "case page": client.get(f"/cases/{case.id}"),
        "case fragment": client.get(f"/cases/{case.id}", headers={"HX-Request": "true"}),
        "list": client.get("/cases/"),
        "search": client.get(f"/cases/?q={case.number}"),
        "board": client.get("/board/"),
        "card": client.get(f"/board/cards/{case.id}", headers={"HX-Request": "true"}),
        "resident page": login_as().get(f"/track/{case.tracking_code}"),
    }
    for where, page in pages.items():
        assert page.status_code == 200, where
        assert MOBILE not in page.text and "88776655" not in page.text, where
    assert "139****5678" in pages["case page"].text and "057****6655" in pages["case page"].text
    # Stored text is unchanged.
    db.session.expire_all()
    assert MOBILE in db.session.get(Case, case.id).description


def test_export_masks_phones_in_titles(app, session, chatty_case, login_as):
    response = login_as("jiedao").get("/reports/cases.csv?figure=received")
    assert response.status_code == 200
    assert MOBILE not in response.text


def test_recorded_reveal_shows_the_numbers_in_text(app, session, chatty_case, login_as):
    case = chatty_case
    case.reporter_phone = None  # the numbers are only in the text
    db.session.commit()
    client = login_as("wangge01")
    assert "查看完整号码" in client.get(f"/cases/{case.id}").text
    response = client.post(f"/cases/{case.id}/phone", htmx=True)
    assert response.status_code == 200
    assert MOBILE in response.text and "057188776655" in response.text
    assert db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                      CaseEvent.event == "reveal_phone")).first() is not None
    # A handler may not reveal.
    assert login_as("louzhang01").post(f"/cases/{case.id}/phone", htmx=True).status_code in (403, 404)


# ---- integers beyond 64 bits ---------------------------------------------------------------------

def _staff_urls(case_id: int) -> list[tuple[str, str]]:
    gets = [f"/cases/{n}" for n in (BIG, HUGE)] + [
        f"/cases/{BIG}/events/sign/form", f"/cases/{BIG}/clock", f"/board/cards/{BIG}",
        f"/board/cards/{BIG}/events/sign/form", f"/cases/{case_id}/photos/{BIG}", f"/cases/{BIG}/photos/1/thumb",
    ]
    for name in ("category", "grid", "building", "organisation", "page"):
        for value in (BIG, HUGE, "²"):
            gets += [f"/cases/?{name}={value}", f"/board/?{name}={value}", f"/board/columns/new?{name}={value}"]
    gets += [f"/board/columns/new?page={BIG}", f"/board/?pages=new:{BIG}", f"/reports/?community={BIG}",
             f"/reports/?grid={HUGE}", f"/reports/cases.csv?figure=received&group=grid:{BIG}",
             "/reports/?community=²", f"/reports/cases.csv?figure=received&group={BIG}"]
    posts = [f"/cases/{BIG}/events/sign", f"/board/cards/{BIG}/move", f"/cases/{BIG}/extensions",
             f"/cases/{case_id}/extensions/{BIG}", f"/cases/{BIG}/resume", f"/cases/{BIG}/urge",
             f"/cases/{BIG}/photos", f"/cases/{BIG}/phone", f"/notices/{BIG}/open"]
    return [("GET", u) for u in gets] + [("POST", u) for u in posts]


@pytest.mark.parametrize("name", ["wangge01", "jiedao"])
def test_huge_numbers_answer_404_or_422_never_500(app, session, name, login_as):
    case = case_in("triage", user("wangge01").grids[0].buildings[0])
    client = login_as(name)
    for method, url in _staff_urls(case.id):
        if method == "GET":
            response = client.get(url)
        else:
            response = client.post(url, {"version": BIG, "to": "triage", "organisation": BIG}, htmx=True)
        assert response.status_code < 500, (method, url, response.status_code)
    # Form fields: a version, an organisation and bulk picks beyond 64 bits.
    for url, data in ((f"/cases/{case.id}/events/dispatch_handler", {"version": BIG, "organisation": BIG}),
                      ("/board/bulk/sign", {"cases": f"{BIG}:{BIG}"}),
                      ("/board/bulk/urge", {"cases": f"{case.id}:{BIG}"})):
        assert client.post(url, data, htmx=True).status_code < 500, url


def test_huge_numbers_on_admin_and_public_routes(app, session, login_as):
    admin = login_as("admin")
    for url in (f"/admin/limits?category={BIG}", f"/admin/limits?category={HUGE}"):
        assert admin.get(url).status_code < 500, url
    assert admin.post(f"/admin/holidays/{BIG}/delete").status_code == 404
    assert admin.post("/admin/limits", {"category": BIG}).status_code < 500
    resident = login_as()
    case = case_in("triage", user("wangge01").grids[0].buildings[0])
    for url in (f"/report/buildings?community_id={BIG}", f"/report/buildings?community_id={HUGE}",
                f"/track/{case.tracking_code}/photos/{BIG}", f"/track/{case.tracking_code}/photos/{BIG}/thumb"):
        response = resident.get(url)
        assert response.status_code in (200, 404, 422), (url, response.status_code)
    response = resident.post("/report", {"community_id": BIG, "building_id": HUGE, "category_id": BIG,
                                         "title": "x"})
    assert response.status_code < 500


# ---- images: bounded memory, and the limit in the message -----------------------------------------

def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (width, height)).save(out, "PNG")
    return out.getvalue()


def test_a_7000_by_7000_image_is_refused_with_the_limit_named():
    from casework.services import photos
    from casework.services.errors import Invalid
    with pytest.raises(Invalid) as refused:
        photos.clean_image(_png(7000, 7000), name="big.png")
    message = str(refused.value.errors["photos"])
    assert "4900 万" in message and str(photos.MAX_SOURCE_PIXELS // 10_000) in message


def test_a_big_jpeg_is_decoded_reduced():
    from casework.services import photos
    out = io.BytesIO()
    Image.new("RGB", (6000, 4000), (200, 100, 50)).save(out, "JPEG", quality=60)
    photo = photos.clean_image(out.getvalue(), name="camera.jpg")
    assert max(photo.width, photo.height) <= photos.MAX_SIDE


# ---- photo downloads are never cached ------------------------------------------------------------

def test_photo_downloads_send_no_store(app, session, login_as):
    from casework.services import photos, residents
    case = case_in("triage", user("wangge01").grids[0].buildings[0])
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 20, 30)).save(out, "JPEG")
    storage = __import__("werkzeug.datastructures", fromlist=["FileStorage"]).FileStorage(
        stream=io.BytesIO(out.getvalue()), filename="a.jpg", content_type="image/jpeg")
    added = residents.add_resident_photos(db.session.get(Case, case.id), [storage])
    db.session.commit()
    att = added[0]
    staff = login_as("wangge01")
    for url in (f"/cases/{case.id}/photos/{att.id}", f"/cases/{case.id}/photos/{att.id}/thumb",
                f"/cases/{case.id}/photos/{att.id}?download=1"):
        response = staff.get(url)
        response.close()
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store", url
    response = login_as().get(f"/track/{case.tracking_code}/photos/{att.id}")
    response.close()
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert photos  # the module under test
