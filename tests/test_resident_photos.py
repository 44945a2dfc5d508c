"""Residents add photos to an open case from its tracking page: the cap, the checks, the budgets,
what the staff see, and the purge."""
from __future__ import annotations

from sqlalchemy import func, select

from case_steps import case_in, user
from casework.extensions import db
from casework.models import Attachment, Case, CaseEvent, User
from resident_steps import building_of, fetch, image_bytes, post_multipart, report_form, submit, upload
from test_public import count_cases, count_files


def add_photos(client, case: Case, files: list, **kw):
    """Post the tracking page's "补充照片" form."""
    return client.post(f"/track/{case.tracking_code}/photos", {"photos": files}, **kw)


def pngs(n: int, prefix: str = "p") -> list:
    return [upload(image_bytes("PNG", color=(10 * i, 90, 160)), f"{prefix}{i}.png") for i in range(n)]


def resident_photos(case: Case) -> list[Attachment]:
    """The case's resident photos as the database holds them now."""
    return list(db.session.scalars(select(Attachment).where(
        Attachment.case_id == case.id, Attachment.stage == "before").order_by(Attachment.id)))


def count_attachments() -> int:
    return db.session.scalar(select(func.count()).select_from(Attachment))


def test_resident_adds_photos_and_staff_see_them_with_a_notice(app, session, login_as):
    from casework.models import Notification
    from casework.services import photos
    resident = login_as()
    case = submit(resident, photos=pngs(1, "report"))
    page = resident.get(f"/track/{case.tracking_code}").text
    assert "补充照片" in page and f'action="/track/{case.tracking_code}/photos#photos"' in page
    assert "还可补充 5 张（每次最多 3 张" in page

    response = add_photos(resident, case, pngs(2))
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/track/{case.tracking_code}#photos")
    db.session.expire_all()
    before = resident_photos(case)
    assert len(before) == 3
    added = before[1:]
    assert all(a.uploaded_by_id is None for a in added)
    for att in added:
        assert photos.path_of(att.stored_name).is_file() and photos.path_of(att.stored_name, thumb=True).is_file()

    # The resident: the photos, the timeline line, a one-time confirmation, the room left.
    page = resident.get(f"/track/{case.tracking_code}").text
    for att in added:
        assert f"/track/{case.tracking_code}/photos/{att.id}/thumb" in page
    assert "您补充了 2 张照片" in page and "已收到您补充的 2 张照片" in page and "还可补充 3 张" in page
    assert fetch(resident, f"/track/{case.tracking_code}/photos/{added[0].id}")[0] == 200
    assert "已收到您补充的" not in resident.get(f"/track/{case.tracking_code}").text
    row = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                     CaseEvent.event == "resident_photos")).one()
    assert (row.public, row.actor_id, row.actor_label, row.to_status) == (True, None, "resident", "reported")

    # The staff: the photos and the timeline line on the case page, a notice for the grid staff.
    wangge = login_as("wangge01")
    panel = wangge.get(f"/cases/{case.id}").text
    for att in added:
        assert f"/cases/{case.id}/photos/{att.id}/thumb" in panel
    assert "居民补充照片 2 张" in panel
    grid_staff = {u.id for u in db.session.scalars(select(User).where(User.role == "grid_staff"))
                  if case.grid in u.grids}
    notices = db.session.scalars(select(Notification).where(Notification.case_id == case.id,
                                                            Notification.kind == "resident_photos")).all()
    assert {n.user_id for n in notices} == grid_staff and user("wangge01").id in grid_staff
    assert all("居民补充了 2 张照片" in n.message and case.number in n.message for n in notices)
    assert "居民补充了 2 张照片" in wangge.get("/notices/").text


def test_resident_photos_are_capped_per_case(app, session, login_as):
    resident = login_as()
    case = submit(resident, photos=pngs(3, "report"))
    assert add_photos(resident, case, pngs(2)).status_code == 303
    attachments, files = count_attachments(), count_files(app)

    too_many = add_photos(resident, case, pngs(2, "more"))
    assert too_many.status_code == 422
    assert "本事项还能补充 1 张照片" in too_many.text and 'id="e-add-photos"' in too_many.text
    assert "照片需要重新选择" in too_many.text
    assert (count_attachments(), count_files(app)) == (attachments, files)

    assert add_photos(resident, case, pngs(1, "last")).status_code == 303
    page = resident.get(f"/track/{case.tracking_code}").text
    assert "照片已达上限（每件事项最多 6 张）" in page and f"/track/{case.tracking_code}/photos#" not in page
    attachments, files = count_attachments(), count_files(app)
    seventh = add_photos(resident, case, pngs(1, "seventh"))
    assert seventh.status_code == 422 and "每件事项最多 6 张照片，已经传满" in seventh.text
    assert (count_attachments(), count_files(app)) == (attachments, files)
    db.session.expire_all()
    assert len(resident_photos(case)) == 6


def test_closed_case_takes_no_more_photos(app, session, login_as):
    case = case_in("closed", building_of())
    resident = login_as()
    page = resident.get(f"/track/{case.tracking_code}").text
    assert "已办结" in page and "补充照片" not in page and f"/track/{case.tracking_code}/photos" not in page
    attachments, files = count_attachments(), count_files(app)
    refused = add_photos(resident, case, pngs(1))
    assert refused.status_code == 409
    assert "该事项已经办结，不能再补充照片" in refused.text and "Traceback" not in refused.text
    assert (count_attachments(), count_files(app)) == (attachments, files)


def test_photos_for_an_unknown_code_are_404(app, session, login_as):
    case = submit(login_as())
    real = case.tracking_code
    near = real[:-1] + ("2" if real[-1] != "2" else "3")
    attachments, files = count_attachments(), count_files(app)
    for code in (near, "AAAAAAAAAA", "short"):
        response = login_as().post(f"/track/{code}/photos", {"photos": pngs(1)})
        assert response.status_code == 404 and "找不到该事项" in response.text
    assert (count_attachments(), count_files(app)) == (attachments, files)
    assert login_as().post(f"/track/{real}/photos", {"photos": pngs(1)}).status_code == 303  # the real one


def test_a_bad_file_or_none_saves_nothing(app, session, login_as):
    case = case_in("handling", building_of())
    resident = login_as()
    attachments, files = count_attachments(), count_files(app)
    fake = upload(b"<html><script>alert(1)</script></html>", "photo.jpg", "image/jpeg")
    response = add_photos(resident, case, [*pngs(1), fake])  # the good one is not kept either
    assert response.status_code == 422
    assert "“photo.jpg”不是有效的 JPG、PNG 或 WebP 图片" in response.text and "<script>alert(1)" not in response.text
    assert 'aria-invalid="true"' in response.text and "照片需要重新选择" in response.text
    assert (count_attachments(), count_files(app)) == (attachments, files)

    empty = add_photos(resident, case, [])
    assert empty.status_code == 422 and "请选择照片" in empty.text
    assert (count_attachments(), count_files(app)) == (attachments, files)
    db.session.expire_all()
    assert not db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                          CaseEvent.event == "resident_photos")).all()


def test_a_photo_over_5_mb_is_413(app, session, login_as):
    case = case_in("handling", building_of())
    resident = login_as()
    attachments, files = count_attachments(), count_files(app)
    big = upload(b"\xff\xd8\xff\xe0" + b"\0" * (6 * 1024 * 1024), "big.jpg", "image/jpeg")
    response = post_multipart(resident, f"/track/{case.tracking_code}/photos", {"photos": [*pngs(1), big]})
    assert response.status_code == 413
    assert "照片“big.jpg”超过 5 MB" in response.text and 'id="add-photos"' in response.text
    # A request over the whole upload limit gets the residents' readable page too.
    huge = [upload(b"\0" * (6 * 1024 * 1024), f"{i}.jpg", "image/jpeg") for i in range(3)]
    response = post_multipart(resident, f"/track/{case.tracking_code}/photos", {"photos": huge})
    assert response.status_code == 413 and "每张照片不能超过 5 MB" in response.text
    assert (count_attachments(), count_files(app)) == (attachments, files)


def test_adding_photos_needs_the_csrf_token(app, session, login_as):
    case = case_in("handling", building_of())
    attachments, files = count_attachments(), count_files(app)
    response = add_photos(login_as(), case, pngs(1), csrf=False)
    assert response.status_code == 400 and "安全校验失败" in response.text
    assert (count_attachments(), count_files(app)) == (attachments, files)
    assert add_photos(login_as(), case, pngs(1)).status_code == 303  # the same post with the token


def test_adding_photos_spends_the_tracking_budget(app, session, three_lookups_a_minute, login_as):
    case = case_in("handling", building_of())
    resident = login_as()
    here = {"environ_base": {"REMOTE_ADDR": "203.0.113.7"}}
    assert resident.get(f"/track/{case.tracking_code}", **here).status_code == 200
    assert add_photos(resident, case, pngs(1), **here).status_code == 303
    assert resident.get(f"/track/{case.tracking_code}/qr.svg", **here).status_code == 200
    attachments = count_attachments()
    refused = add_photos(resident, case, pngs(1), **here)
    assert refused.status_code == 429 and "提交太频繁" in refused.text
    assert count_attachments() == attachments
    assert add_photos(resident, case, pngs(1), environ_base={"REMOTE_ADDR": "203.0.113.8"}).status_code == 303


def test_adding_photos_shares_the_report_budget(app, session, two_reports_a_minute, login_as):
    """Reports and added photos both store images: one budget per address for both."""
    resident = login_as()
    here = {"environ_base": {"REMOTE_ADDR": "203.0.113.7"}}
    assert resident.post("/report", report_form(), **here).status_code == 303
    case = db.session.scalars(select(Case).order_by(Case.id.desc()).limit(1)).one()
    assert add_photos(resident, case, pngs(1), **here).status_code == 303
    attachments, cases = count_attachments(), count_cases()
    refused = add_photos(resident, case, pngs(1), **here)
    assert refused.status_code == 429 and "提交太频繁" in refused.text
    assert resident.post("/report", report_form(), **here).status_code == 429
    assert (count_attachments(), count_cases()) == (attachments, cases)
    # Reading the page is not a post: the tracking page still opens.
    assert resident.get(f"/track/{case.tracking_code}", **here).status_code == 200


def test_purge_erases_the_photos_a_resident_added(app, session, login_as):
    import datetime as dt
    from casework.services import photos, transitions
    from casework.timekeeping import now
    case = case_in("resolved", building_of())  # taken by phone: no photos with the report
    resident = login_as()
    assert "还可补充 6 张（每次最多 3 张" in resident.get(f"/track/{case.tracking_code}").text
    assert add_photos(resident, case, pngs(2)).status_code == 303
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    added = resident_photos(case)
    files = [photos.path_of(a.stored_name, thumb) for a in added for thumb in (False, True)]
    assert len(added) == 2 and all(p.is_file() for p in files)
    transitions.fire(user("wangge01"), case, "close", {"satisfaction": "satisfied"}, version=case.version)
    case.closed_at = now() - dt.timedelta(days=app.config["RETENTION_DAYS"] + 1)
    db.session.commit()

    result = app.test_cli_runner().invoke(args=["casework", "purge"])
    assert result.exit_code == 0 and "2 resident photo(s)" in result.output
    assert not any(p.exists() for p in files)
    db.session.expire_all()
    assert resident_photos(case) == []
    page = resident.get(f"/track/{case.tracking_code}").text
    assert "您上传的照片" not in page and "补充照片" not in page
    for att_id in (a.id for a in added):
        assert f"/photos/{att_id}" not in page


def test_a_resident_reading_english_adds_photos_and_staff_notices_stay_chinese(app, session, login_as):
    from casework.models import Notification
    case = case_in("triage", building_of())
    resident = login_as()
    resident.post("/lang/en", {"next": f"/track/{case.tracking_code}"})
    page = resident.get(f"/track/{case.tracking_code}").text
    assert "Add photos" in page and "6 more can be added (up to 3 at a time" in page
    assert add_photos(resident, case, pngs(1)).status_code == 303
    page = resident.get(f"/track/{case.tracking_code}").text
    assert "You added 1 photo(s)" in page and "We have received the 1 photo(s) you added" in page
    notice = db.session.scalars(select(Notification).where(Notification.case_id == case.id,
                                                           Notification.kind == "resident_photos")).first()
    assert notice is not None and notice.message.startswith("居民补充了 1 张照片")
