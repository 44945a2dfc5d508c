"""Frictions found in a walk-through (issue #10 §5): each one as the user met it, now fixed."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from sqlalchemy import select

from case_steps import case_in, parse
from conftest import user
from resident_steps import building_of, fetch, image_bytes, post_multipart, upload
from test_boards import card_html, columns
from casework.extensions import db
from casework.models import Attachment, Case, Escalation, Notification
from casework.services import escalation, transitions
from casework.timekeeping import now


def after_photos(case_id: int) -> list[Attachment]:
    db.session.expire_all()
    return db.session.scalars(select(Attachment).where(Attachment.case_id == case_id,
                                                       Attachment.stage == "after")).all()


def case_now(case_id: int) -> Case:
    db.session.expire_all()
    return db.session.get(Case, case_id)


def card(html: str, case_id: int):
    return parse(card_html(html, case_id) + "</article>").find("article")


# ---- 1. the report-done form carries its photos ---------------------------------------------------------

def test_report_done_form_carries_the_after_photos_in_one_submit(login_as):
    case = case_in("handling", building_of(), accepted=True)
    wuye = login_as("wuye01")
    form = parse(wuye.get(f"/cases/{case.id}/events/report_done/form", headers={"HX-Request": "true"}).text)
    assert form.find("form").get("enctype") == "multipart/form-data"
    assert form.find("form").get("hx-include") == f"#f-after-{case.id}"  # a photo chosen in the upload box goes too
    assert form.find("input", type="file", name="photos") is not None
    response = wuye.post(f"/cases/{case.id}/events/report_done", {
        "version": case.version, "note": "已更换阀门",
        "photos": [upload(image_bytes("JPEG"), "after.jpg", "image/jpeg")]}, htmx=True)
    assert response.status_code == 200
    assert case_now(case.id).status == "resolved"
    assert [a.uploaded_by_id for a in after_photos(case.id)] == [user("wuye01").id]
    assert "完工照片" in response.text


def test_report_done_that_is_refused_keeps_no_photo_and_says_so(login_as):
    case = case_in("handling", building_of(), accepted=True)
    wuye = login_as("wuye01")
    # The note is missing: nothing is written, the photo is named as not kept, the form comes back.
    response = wuye.post(f"/cases/{case.id}/events/report_done", {
        "version": case.version, "note": "",
        "photos": [upload(image_bytes("JPEG"), "after.jpg", "image/jpeg")]}, htmx=True)
    assert response.status_code == 422
    page = parse(response.text)
    photo_field = page.find("input", type="file", name="photos")
    error = page.find(id=photo_field.get("aria-describedby"))
    assert "照片尚未保存" in error.text
    assert case_now(case.id).status == "handling" and after_photos(case.id) == []
    # Not a picture: the message sits next to the field, the typed note is kept, nothing changes.
    bad = wuye.post(f"/cases/{case.id}/events/report_done", {
        "version": case.version, "note": "已更换阀门",
        "photos": [upload(b"<html></html>", "x.jpg", "image/jpeg")]}, htmx=True)
    assert bad.status_code == 422 and "不是有效的" in bad.text
    assert parse(bad.text).find("textarea", name="note").text == "已更换阀门"
    big = post_multipart(wuye, f"/cases/{case.id}/events/report_done", {
        "version": str(case.version), "note": "已更换阀门",
        "photos": [upload(b"\xff\xd8" + b"\0" * (5 * 1024 * 1024), "big.jpg", "image/jpeg")]},
        headers={"HX-Request": "true"})
    assert big.status_code == 413 and "超过 5 MB" in big.text
    assert case_now(case.id).status == "handling" and after_photos(case.id) == []


def test_report_done_from_a_board_card_carries_photos_too(login_as):
    case = case_in("handling", building_of(), accepted=True)
    wuye = login_as("wuye01")
    form = parse(wuye.get(f"/board/cards/{case.id}/events/report_done/form", headers={"HX-Request": "true"}).text)
    assert form.find("form").get("hx-encoding") == "multipart/form-data"
    response = wuye.post(f"/board/cards/{case.id}/events/report_done", {
        "version": case.version, "note": "已修好",
        "photos": [upload(image_bytes("PNG"), "after.png", "image/png")]}, htmx=True)
    assert response.status_code == 200 and len(after_photos(case.id)) == 1


# ---- 2. a reopened case is marked for the handler, who is told --------------------------------------------

def test_reopened_case_is_marked_with_the_residents_reason_and_the_handler_told(login_as):
    case = case_in("resolved", building_of())
    transitions.fire(user("wangge01"), case, "reopen", {"note": "居民说水管还在漏，电话13912345678"},
                     version=case.version)
    db.session.commit()
    assert db.session.scalars(select(Notification.kind).where(
        Notification.case_id == case.id, Notification.user_id == user("wuye01").id,
        Notification.kind == "reopened")).all() == ["reopened"]
    board = login_as("wuye01").get("/board/").text
    assert case.id in columns(board)["to_sign"]
    shown = card(board, case.id)
    assert shown.find(class_="ktag ktag-reopen").text == "重办"
    reason = shown.find("p", class_="kcard-reopen").text
    assert "水管还在漏" in reason and "13912345678" not in reason and "139****5678" in reason
    # Signed for and worked: still marked; reported done again: the mark gives way to the done note.
    transitions.fire(user("wuye01"), case, "accept", {}, version=case.version)
    db.session.commit()
    assert card(login_as("wuye01").get("/board/").text, case.id).find("p", class_="kcard-reopen") is not None
    transitions.fire(user("wuye01"), case, "report_done", {"note": "换了整段水管"}, version=case.version)
    db.session.commit()
    again = card(login_as("wangge01").get("/board/").text, case.id)
    assert again.find("p", class_="kcard-reopen") is None
    assert "换了整段水管" in again.find(class_="kcard-done").text


# ---- 3. the sweep: a later rung supersedes the earlier one ------------------------------------------------

CN = dt.timezone(dt.timedelta(hours=8))


def unread(user_id: int, case_id: int) -> list[str]:
    return db.session.scalars(select(Notification.kind).where(
        Notification.user_id == user_id, Notification.case_id == case_id,
        Notification.read_at.is_(None))).all()


def test_overdue_supersedes_due_soon_in_the_unread_count(make_case):
    with time_machine.travel(dt.datetime(2026, 11, 2, 9, 0, tzinfo=CN), tick=False):
        case = make_case(category="facilities")  # Monday 09:00: signing due 14:30
    staff = user("wangge01")
    with time_machine.travel(dt.datetime(2026, 11, 2, 13, 45, tzinfo=CN), tick=False):
        escalation.sweep()
        db.session.commit()
    assert unread(staff.id, case.id) == ["warning"]
    with time_machine.travel(dt.datetime(2026, 11, 2, 15, 0, tzinfo=CN), tick=False):
        escalation.sweep()
        db.session.commit()
    assert unread(staff.id, case.id) == ["urge"], "one unread notice for the case and stage"
    read_warning = db.session.scalars(select(Notification).where(
        Notification.user_id == staff.id, Notification.case_id == case.id, Notification.kind == "warning")).one()
    assert read_warning.read_at is not None  # kept in the list, out of the unread count


def test_a_first_sweep_past_due_sends_one_notice_not_two(make_case):
    with time_machine.travel(dt.datetime(2026, 11, 2, 9, 0, tzinfo=CN), tick=False):
        case = make_case(category="facilities")
    with time_machine.travel(dt.datetime(2026, 11, 2, 15, 0, tzinfo=CN), tick=False):
        escalation.sweep()
        db.session.commit()
    rungs = db.session.scalars(select(Escalation.level).where(Escalation.case_id == case.id)).all()
    assert sorted(rungs) == ["urge", "warning"], "both rungs are recorded on the ladder"
    assert unread(user("wangge01").id, case.id) == ["urge"]


# ---- 6. the call-back card: the done note and an "after" thumbnail ---------------------------------------

def test_call_back_card_shows_the_done_note_and_an_after_thumbnail(login_as, query_counter):
    case = case_in("handling", building_of(), accepted=True)
    wuye = login_as("wuye01")
    wuye.post(f"/cases/{case.id}/events/report_done", {
        "version": case.version, "note": "已更换楼道灯泡并测试",
        "photos": [upload(image_bytes("JPEG"), "after.jpg", "image/jpeg")]}, htmx=True)
    photo = after_photos(case.id)[0]
    staff = login_as("wangge01")
    board = staff.get("/board/").text
    assert case.id in columns(board)["callback"]
    done = card(board, case.id).find(class_="kcard-done")
    assert "办结说明：已更换楼道灯泡并测试" in done.text
    thumb = done.find("img").get("src")
    assert thumb == f"/cases/{case.id}/photos/{photo.id}/thumb"
    assert fetch(staff, thumb)[:2] == (200, "image/jpeg")
    assert fetch(login_as("wangge04"), thumb)[0] == 404  # another grid: not theirs
    # The single card (after an action, or "cancel") shows the same.
    one = parse(staff.get(f"/board/cards/{case.id}", headers={"HX-Request": "true"}).text)
    assert one.find("img", class_="kthumb").get("src") == thumb


# ---- 7. a single action confirms where the case went ------------------------------------------------------

def test_a_single_action_names_the_case_and_where_it_went(login_as, make_case):
    case = make_case()
    staff = login_as("wangge01")
    page = parse(staff.get("/board/").text)
    region = page.find(id="board-toast")
    assert region.get("role") == "status" and region.get("aria-live") == "polite"
    response = staff.post(f"/board/cards/{case.id}/events/sign", {"version": case.version}, htmx=True)
    assert response.status_code == 200
    toast = parse(response.text).find(id="board-toast")
    assert toast.get("hx-swap-oob") == "innerHTML"
    assert case.number in toast.text and "网格研判" in toast.text
    assert toast.find("a").get("href") == f"/cases/{case.id}"
    # A drop that hands the case off the viewer's board names where it went all the same.
    moved = staff.post(f"/board/cards/{case.id}/move", {"to": "leader", "version": case_now(case.id).version},
                       htmx=True)
    assert moved.status_code == 200 and "在楼栋长" in parse(moved.text).find(id="board-toast").text


def test_a_refused_action_shows_no_confirmation(login_as, make_case):
    case = make_case()
    response = login_as("wangge01").post(f"/board/cards/{case.id}/events/sign", {"version": 999}, htmx=True)
    assert response.status_code == 409 and "board-toast" not in response.text


# ---- 8. handlers and building leaders see what is due soonest first -------------------------------------

@pytest.mark.parametrize("username,column", [("wuye01", "to_sign"), ("louzhang01", "mine")])
def test_own_work_lists_the_soonest_due_first(login_as, username, column):
    building = user("louzhang01").buildings[0]
    state = "handling" if username == "wuye01" else "building_leader"
    older, newer = case_in(state, building), case_in(state, building)
    older.stage_due_at = now() + dt.timedelta(days=3)
    newer.stage_due_at = now() + dt.timedelta(hours=1)
    db.session.commit()
    client = login_as(username)
    default = columns(client.get("/board/").text)[column]
    assert default.index(newer.id) < default.index(older.id), "the soonest due first by default"
    page = parse(client.get("/board/").text)
    assert page.find("select", name="sort").find("option").text == "时限最近在前"
    waited = columns(client.get("/board/?sort=waited").text)[column]
    assert waited.index(older.id) < waited.index(newer.id)


def test_grid_staff_keep_the_longest_waiting_first(login_as, make_case):
    first, second = make_case(title="先到"), make_case(title="后到")
    first.stage_due_at = now() + dt.timedelta(days=3)
    second.stage_due_at = now() + dt.timedelta(hours=1)
    db.session.commit()
    new = columns(login_as("wangge01").get("/board/").text)["new"]
    assert new.index(first.id) < new.index(second.id)


# ---- 9. both day counts are labelled -----------------------------------------------------------------------

def test_the_cards_age_is_labelled(login_as, make_case):
    case = make_case()
    shown = card(login_as("wangge01").get("/board/").text, case.id)
    assert shown.find(class_="kage").text.startswith("已报 ")
