"""Privacy: the tracking page shows no staff, numbers or notes; the full number only on a recorded
"show number"; reporters' names and numbers erased after the retention period."""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from sqlalchemy import func, or_, select

from case_steps import case_in, seen_version, user
from casework.extensions import db
from casework.models import Case, CaseEvent, Organisation, User
from casework.services import photos, residents, transitions
from casework.timekeeping import now
from resident_steps import building_of, image_bytes, submit, upload

MOBILE_RE = re.compile(r"1[3-9]\d{9}")
MASKED_RE = re.compile(r"\d{3}\*{4}\d{4}")


def press(client, case_id: int, event: str, **fields):
    page = client.get(f"/cases/{case_id}")
    response = client.post(f"/cases/{case_id}/events/{event}",
                           {"version": seen_version(page.text, case_id), **fields}, htmx=True)
    assert response.status_code == 200, response.text
    return response


# The tracking page -----------------------------------------------------------------------------

def test_tracking_page_shows_no_staff_names_numbers_or_notes(app, session, login_as):
    resident = login_as()
    case = submit(resident, photos=[upload(image_bytes("PNG"), "a.png")])
    wangge, louzhang, wuye = login_as("wangge01"), login_as("louzhang01"), login_as("wuye01")
    wanjia = user("wuye01").organisation
    press(wangge, case.id, "sign")
    press(wangge, case.id, "dispatch")
    press(louzhang, case.id, "return_case", reason="insufficient_info", note="内部：楼栋长认为信息不全-甲")
    press(wangge, case.id, "dispatch_handler", organisation=str(wanjia.id))
    press(wuye, case.id, "accept")
    press(wuye, case.id, "report_done", note="内部：王师傅 13911112222 已更换-乙")
    assert wangge.post(f"/cases/{case.id}/phone", htmx=True).status_code == 200
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    transitions.add_event(user("shequ01"), case, "comment", "comment", "内部备注：居民脾气急-丙")
    db.session.commit()

    response = resident.get(f"/track/{case.tracking_code}")
    assert response.status_code == 200
    html = response.text
    assert "待您确认" in html and "已交承办单位办理" in html and "重新分派办理" in html

    staff_names = db.session.scalars(select(User.display_name)).all()
    leaked = [n for n in staff_names if n in html]
    assert leaked == []
    for org in db.session.scalars(select(Organisation)):
        assert org.name not in html and org.phone not in html
    notes = [e.note for e in db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)) if e.note]
    assert len(notes) >= 3
    for note in notes:
        assert note not in html
    for fragment in ("内部", "甲", "丙", "13911112222", "王师傅", "查看完整号码", "信息不全"):
        assert fragment not in html, fragment
    # Not even the resident's own name or number: the code alone opens this page.
    assert "李阿姨" not in html
    assert MOBILE_RE.search(html) is None and MASKED_RE.search(html) is None
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_public_timeline_is_only_public_rows(app, session, login_as):
    case = case_in("triage", building_of())
    transitions.add_event(user("wangge01"), case, "urge", "urge", public=False)
    db.session.commit()
    html = login_as().get(f"/track/{case.tracking_code}").text
    public_rows = db.session.scalar(select(func.count()).select_from(CaseEvent).where(
        CaseEvent.case_id == case.id, CaseEvent.public.is_(True)))
    assert public_rows == len(case.events) - 1
    assert html.count("<li><time") == public_rows
    assert "催办" not in html


# Show number -----------------------------------------------------------------------------------

@pytest.mark.parametrize("username", ["wangge01", "shequ01", "jiedao"])
def test_show_number_reveals_and_records(app, session, username, login_as):
    case = submit(login_as())
    staff = login_as(username)
    page = staff.get(f"/cases/{case.id}").text
    assert "139****4321" in page and "13987654321" not in page
    assert "查看完整号码" in page and f"/cases/{case.id}/phone" in page

    response = staff.post(f"/cases/{case.id}/phone", htmx=True)
    assert response.status_code == 200
    assert "13987654321" in response.text and response.text.lstrip().startswith(f'<span class="phone phone-full" id="case-{case.id}-reveal"')
    assert response.headers["Cache-Control"] == "no-store"
    row = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.event == "reveal_phone")).one()
    assert (row.kind, row.actor_id, row.public) == ("reveal", user(username).id, False)
    assert row.created_at is not None
    # The reveal appears in the staff timeline (who and when), and the number still is masked there.
    page = staff.get(f"/cases/{case.id}").text
    assert "查看完整号码" in page and user(username).display_name in page and "13987654321" not in page


@pytest.mark.parametrize(("username", "status"), [("louzhang01", 403), ("wuye01", 403), ("wangge02", 404),
                                                   ("shequ02", 404), ("hehuo01", 404)])
def test_show_number_refused_to_others(app, session, username, status, login_as):
    case = case_in("handling", building_of(), organisation=user("wuye01").organisation)
    staff = login_as(username)
    if status == 403:
        page = staff.get(f"/cases/{case.id}").text
        assert "查看完整号码" not in page and "138****1234" in page
    response = staff.post(f"/cases/{case.id}/phone", htmx=True)
    assert response.status_code == status
    assert "13812341234" not in response.text
    assert db.session.scalar(select(func.count()).select_from(CaseEvent).where(
        CaseEvent.case_id == case.id, CaseEvent.event == "reveal_phone")) == 0


def test_show_number_needs_csrf(app, session, login_as):
    case = submit(login_as())
    response = login_as("wangge01").post(f"/cases/{case.id}/phone", csrf=False)
    assert response.status_code == 400 and "13987654321" not in response.text


# Retention purge -------------------------------------------------------------------------------

def _close(case: Case, days_ago: int) -> Case:
    """Close a case through the workflow, then date the closing `days_ago` days back."""
    if case.status != "closed":
        transitions.fire(user("wangge01"), case, "close", {"satisfaction": "satisfied", "note": "回访"},
                         version=case.version)
    case.closed_at = now() - dt.timedelta(days=days_ago)
    db.session.commit()
    return case


def _purge(app, *args) -> str:
    result = app.test_cli_runner().invoke(args=["casework", "purge", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_purge_erases_only_old_closed_reporters(app, session, login_as):
    building = building_of()
    old = _close(case_in("resolved", building), days_ago=800)
    old_id, old_title, old_sat = old.id, old.title, old.satisfaction
    old_events = len(old.events)
    recent = _close(case_in("resolved", building), days_ago=10)
    still_open = case_in("handling", building)
    still_open.created_at = now() - dt.timedelta(days=900)
    db.session.commit()
    expected = db.session.scalar(select(func.count()).select_from(Case).where(
        Case.status == "closed", Case.closed_at < now() - dt.timedelta(days=app.config["RETENTION_DAYS"]),
        or_(Case.reporter_name.is_not(None), Case.reporter_phone.is_not(None))))

    output = _purge(app)
    assert f"from {expected} case(s)" in output and expected >= 1
    db.session.expire_all()
    old = db.session.get(Case, old_id)
    assert (old.reporter_name, old.reporter_phone) == (None, None)
    assert (old.title, old.satisfaction, old.status, old.resolution, len(old.events)) == (
        old_title, old_sat, "closed", "solved", old_events)
    recent, still_open = db.session.get(Case, recent.id), db.session.get(Case, still_open.id)
    assert (recent.reporter_name, recent.reporter_phone) == ("王女士", "13812341234")
    assert (still_open.reporter_name, still_open.reporter_phone) == ("王女士", "13812341234")

    # Idempotent: a second run finds nothing more.
    assert "from 0 case(s)" in _purge(app)
    # The staff page of the purged case still opens, with no name and no number.
    page = login_as("wangge01").get(f"/cases/{old_id}").text
    assert "王女士" not in page and "138****1234" not in page and "查看完整号码" not in page


def test_purge_with_a_shorter_period_and_bad_value(app, session):
    recent = _close(case_in("resolved", building_of()), days_ago=10)
    _purge(app, "--days", "5")
    db.session.expire_all()
    assert db.session.get(Case, recent.id).reporter_phone is None
    result = app.test_cli_runner().invoke(args=["casework", "purge", "--days", "-1"])
    assert result.exit_code != 0


def _worked_case(login_as, *, resident_photos: int = 2, handler_photo: bool = True) -> Case:
    """A resident's report with photos, worked by the property company (with an "after" photo) to resolved."""
    case = submit(login_as(), photos=[upload(image_bytes("PNG"), f"{i}.png") for i in range(resident_photos)])
    wangge, wuye = login_as("wangge01"), login_as("wuye01")
    press(wangge, case.id, "sign")
    press(wangge, case.id, "dispatch_handler", organisation=str(user("wuye01").organisation_id))
    press(wuye, case.id, "accept")
    if handler_photo:
        done = wuye.post(f"/cases/{case.id}/photos", {"photos": [upload(image_bytes("JPEG"), "done.jpg", "image/jpeg")]},
                         htmx=True)
        assert done.status_code == 200
    press(wuye, case.id, "report_done", note="已修好")
    db.session.expire_all()
    return db.session.get(Case, case.id)


def _files(attachments) -> list[Path]:
    return [photos.path_of(a.stored_name, thumb) for a in attachments for thumb in (False, True)]


def test_purge_erases_the_residents_photos_and_keeps_the_handlers(app, session, login_as):
    old = _close(_worked_case(login_as), days_ago=800)
    recent = _close(_worked_case(login_as, resident_photos=1, handler_photo=False), days_ago=10)
    old_id, code = old.id, old.tracking_code
    resident_photos = [a for a in old.attachments if a.stage == "before"]
    handler_photo, = [a for a in old.attachments if a.stage == "after"]
    erased_ids = [a.id for a in resident_photos]
    resident_files, handler_files, recent_files = (
        _files(resident_photos), _files([handler_photo]), _files(recent.attachments))
    assert len(resident_files) == 4 and all(p.is_file() for p in resident_files + handler_files + recent_files)
    resident_files[1].unlink()  # a file already gone is not an error

    output = _purge(app)
    assert "2 resident photo(s)" in output
    assert not any(p.exists() for p in resident_files)
    assert all(p.is_file() for p in handler_files + recent_files)
    db.session.expire_all()
    assert [a.id for a in db.session.get(Case, old_id).attachments] == [handler_photo.id]
    assert len(db.session.get(Case, recent.id).attachments) == 1

    # Both pages still open, with the handler's photo and no trace of the erased ones.
    staff = login_as("wangge01")
    page = staff.get(f"/cases/{old_id}")
    assert page.status_code == 200
    assert "完工照片" in page.text and "上报照片" not in page.text
    assert f"/cases/{old_id}/photos/{handler_photo.id}/thumb" in page.text
    tracking = login_as().get(f"/track/{code}")
    assert tracking.status_code == 200
    assert "处理后的照片" in tracking.text and "您上传的照片" not in tracking.text
    assert f"/track/{code}/photos/{handler_photo.id}/thumb" in tracking.text
    for att_id in erased_ids:
        assert f"/photos/{att_id}" not in page.text and f"/photos/{att_id}" not in tracking.text
        assert staff.get(f"/cases/{old_id}/photos/{att_id}/thumb").status_code == 404
        assert login_as().get(f"/track/{code}/photos/{att_id}").status_code == 404

    # Idempotent: a second run erases nothing more.
    again = _purge(app)
    assert "from 0 case(s)" in again and "0 resident photo(s)" in again
    assert all(p.is_file() for p in handler_files + recent_files)


def test_purge_counts_a_case_whose_name_is_already_gone(app, session, login_as):
    """Cases purged before photos were erased too still lose their photos, and count once."""
    old = _close(_worked_case(login_as, handler_photo=False), days_ago=800)
    old.reporter_name = old.reporter_phone = None
    db.session.commit()
    files = _files(old.attachments)
    output = _purge(app)
    assert "from 1 case(s)" in output and "2 resident photo(s)" in output
    assert not any(p.exists() for p in files)


def test_purge_deletes_photo_files_only_when_its_commit_succeeds(app, session, login_as):
    old = _close(_worked_case(login_as, handler_photo=False), days_ago=800)
    files = _files(old.attachments)
    purged = residents.purge_personal_data(app.config["RETENTION_DAYS"])
    assert purged.photos == 2
    assert all(p.is_file() for p in files)  # the rows are deleted, the files wait for the commit
    db.session.rollback()  # e.g. the commit failed
    assert all(p.is_file() for p in files)
    db.session.expire_all()
    case = db.session.get(Case, old.id)
    assert len(case.attachments) == 2 and case.reporter_phone == "13987654321"
