"""Photos: only real JPEG/PNG/WebP by content, re-encoded without EXIF/GPS, capped in size, kept
outside static/ under random names, and read through the same access policy as their case."""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from case_steps import case_in, user
from casework.config import ROOT
from casework.extensions import db
from casework.models import Attachment, Case
from casework.services import photos, residents, transitions
from casework.services.errors import Invalid
from resident_steps import (
    GPS_IFD, building_of, fetch, image_bytes, post_multipart, report_form, submit, upload,
)


def stored(att: Attachment, thumb: bool = False) -> Path:
    return photos.path_of(att.stored_name, thumb=thumb)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width × height, with a token of data (never decodable)."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


# Through the resident's form --------------------------------------------------------------------

def test_png_with_exif_gps_is_stored_without_it(app, session, login_as):
    original = image_bytes("PNG", gps=True)
    with Image.open(io.BytesIO(original)) as check:  # the upload really carries GPS
        assert check.getexif().get_ifd(GPS_IFD)[1] == "N"
    case = submit(login_as(), photos=[upload(original, "家门口-定位.png")])
    att = case.attachments[0]
    path = stored(att)
    data = path.read_bytes()
    assert b"SpyCam" not in data and b"eXIf" not in data and b"Exif" not in data
    with Image.open(path) as img:
        assert img.format == "PNG"
        assert dict(img.getexif()) == {} and dict(img.getexif().get_ifd(GPS_IFD)) == {}
        assert "exif" not in img.info
        assert img.size == (64, 48)
    assert (att.content_type, att.width, att.height, att.size) == ("image/png", 64, 48, len(data))
    # A random name, not the resident's file name, in the upload folder outside static/.
    assert att.stored_name.endswith(".png") and "定位" not in att.stored_name and len(att.stored_name) == 36
    assert path.is_relative_to(Path(app.config["UPLOAD_FOLDER"]))
    assert not path.resolve().is_relative_to((ROOT / "static").resolve())
    with Image.open(stored(att, thumb=True)) as thumb:
        assert thumb.format == "JPEG" and max(thumb.size) <= photos.THUMB_SIDE


def test_jpeg_gps_stripped_and_orientation_applied(app, session):
    img = Image.new("RGB", (40, 20), (10, 120, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° to display
    exif.get_ifd(GPS_IFD)[1] = "N"
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    photo = photos.clean_image(buf.getvalue())
    assert photo.content_type == "image/jpeg" and (photo.width, photo.height) == (20, 40)
    assert b"Exif" not in photo.data
    with Image.open(io.BytesIO(photo.data)) as out:
        assert dict(out.getexif()) == {}


def test_webp_is_accepted_and_stays_webp(app, session):
    photo = photos.clean_image(image_bytes("WEBP", gps=True))
    assert photo.content_type == "image/webp" and photo.ext == ".webp"
    with Image.open(io.BytesIO(photo.data)) as out:
        assert out.format == "WEBP" and dict(out.getexif()) == {}


def _gif() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "GIF")
    return buf.getvalue()


def _bmp() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "BMP")
    return buf.getvalue()


REFUSED = {
    "html-renamed-jpg": b"<!doctype html><html><script>alert(1)</script></html>",
    "svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "gif": _gif(),
    "bmp": _bmp(),
    "empty": b"",
    "truncated-jpeg": image_bytes("JPEG", size=(200, 200))[:300],
    "random": bytes(range(256)) * 8,
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_only_jpeg_png_webp_by_content(app, session, name):
    with pytest.raises(Invalid) as err:
        photos.clean_image(REFUSED[name], name="photo.jpg")
    assert "photos" in err.value.errors


def test_pixel_bombs_are_refused_before_decoding(app, session):
    with pytest.raises(Invalid) as err:
        photos.clean_image(png_header_only(8000, 7000))
    assert "像素过大" in str(err.value.errors["photos"])
    with pytest.raises(Invalid):  # past Pillow's own decompression-bomb limit
        photos.clean_image(png_header_only(30000, 30000))


def test_big_images_are_scaled_down(app, session):
    photo = photos.clean_image(image_bytes("PNG", size=(5000, 40)))
    assert (photo.width, photo.height) == (photos.MAX_SIDE, 33)


# Staff: thumbnails, downloads and "after" photos ------------------------------------------------

@pytest.fixture
def case_with_photo(app, session, login_as):
    return submit(login_as(), photos=[upload(image_bytes("PNG"), "a.png")])


@pytest.mark.parametrize("username", ["wangge01", "shequ01", "jiedao"])
def test_staff_in_scope_see_thumbnails_and_download(app, case_with_photo, username, login_as):
    case = case_with_photo
    att = case.attachments[0]
    staff = login_as(username)
    page = staff.get(f"/cases/{case.id}").text
    assert f"/cases/{case.id}/photos/{att.id}/thumb" in page and "上报照片" in page
    status, mimetype, data = fetch(staff, f"/cases/{case.id}/photos/{att.id}")
    assert (status, mimetype, data) == (200, "image/png", stored(att).read_bytes())
    response = staff.get(f"/cases/{case.id}/photos/{att.id}?download=1")
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert case.number in response.headers["Content-Disposition"]
    response.close()


@pytest.mark.parametrize("username", ["wangge02", "shequ02", "wuye02", "hehuo01", "louzhang04"])
def test_photo_download_outside_scope_is_404(app, case_with_photo, username, login_as):
    case = case_with_photo
    att = case.attachments[0]
    outsider = login_as(username)
    for url in (f"/cases/{case.id}/photos/{att.id}", f"/cases/{case.id}/photos/{att.id}/thumb"):
        status, _, data = fetch(outsider, url)
        assert status == 404 and data != stored(att).read_bytes()


def test_photo_through_another_case_id_is_404(app, case_with_photo, login_as):
    other = submit(login_as())
    att = case_with_photo.attachments[0]
    status, _, _ = fetch(login_as("wangge01"), f"/cases/{other.id}/photos/{att.id}")
    assert status == 404


def test_photo_download_needs_login(app, case_with_photo, login_as):
    att = case_with_photo.attachments[0]
    response = login_as().get(f"/cases/{case_with_photo.id}/photos/{att.id}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_handler_adds_after_photos_and_others_cannot(app, session, login_as):
    case = case_in("handling", building_of())
    wuye = login_as("wuye01")
    page = wuye.get(f"/cases/{case.id}").text
    assert "上传完工照片" in page
    response = wuye.post(f"/cases/{case.id}/photos", {"photos": [upload(image_bytes("JPEG"), "done.jpg", "image/jpeg")]},
                         htmx=True)
    assert response.status_code == 200 and response.text.lstrip().startswith(f'<section class="case-photos" id="case-{case.id}-photos"')
    db.session.expire_all()
    assert [a.stage for a in db.session.get(Case, case.id).attachments] == ["after"]

    bad = wuye.post(f"/cases/{case.id}/photos", {"photos": [upload(b"<html></html>", "x.jpg", "image/jpeg")]}, htmx=True)
    assert bad.status_code == 422 and "不是有效的" in bad.text
    big = post_multipart(wuye, f"/cases/{case.id}/photos",
                         {"photos": [upload(b"\xff\xd8" + b"\0" * (5 * 1024 * 1024), "big.jpg", "image/jpeg")]},
                         headers={"HX-Request": "true"})
    assert big.status_code == 413 and "超过 5 MB" in big.text

    grid_staff = login_as("wangge01")
    assert "上传完工照片" not in grid_staff.get(f"/cases/{case.id}").text
    refused = grid_staff.post(f"/cases/{case.id}/photos", {"photos": [upload(image_bytes("JPEG"), "x.jpg", "image/jpeg")]},
                              htmx=True)
    assert refused.status_code == 409
    other_org = login_as("wuye02")
    assert other_org.post(f"/cases/{case.id}/photos", {"photos": [upload(image_bytes("JPEG"), "x.jpg", "image/jpeg")]},
                          htmx=True).status_code == 404
    db.session.expire_all()
    assert len(db.session.get(Case, case.id).attachments) == 1


def test_missing_file_on_disk_is_404_not_500(app, case_with_photo, login_as):
    att = case_with_photo.attachments[0]
    stored(att).unlink()
    status, _, _ = fetch(login_as("wangge01"), f"/cases/{case_with_photo.id}/photos/{att.id}")
    assert status == 404


# Files follow the transaction -------------------------------------------------------------------

def files_on_disk(app) -> set[Path]:
    return {p for p in Path(app.config["UPLOAD_FOLDER"]).rglob("*") if p.is_file()}


def attach_two(case: Case) -> list[Attachment]:
    """The handler's service writes two "after" photos (four files with the thumbnails) and flushes."""
    cleaned = [photos.clean_image(image_bytes("PNG")), photos.clean_image(image_bytes("JPEG"))]
    return photos.attach(case, cleaned, stage="after", uploaded_by=user("wuye01"))


def count_photos(case: Case) -> int:
    return db.session.scalar(select(func.count()).select_from(Attachment).where(Attachment.case_id == case.id))


@pytest.mark.parametrize("ending", ["rollback", "failed commit", "session closed"])
def test_photos_of_a_transaction_that_does_not_commit_leave_no_files(app, session, ending):
    case = case_in("handling", building_of())
    before = files_on_disk(app)
    rows = attach_two(case)
    assert len(files_on_disk(app) - before) == 4  # written while the transaction is open
    if ending == "rollback":
        db.session.rollback()
    elif ending == "failed commit":
        # A later write in the same transaction breaks a constraint: the commit fails.
        db.session.add(Attachment(case_id=case.id, stored_name=rows[0].stored_name, content_type="image/png"))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
    else:  # what the app context's teardown does when a view returns without committing
        db.session.close()
    assert files_on_disk(app) == before
    assert count_photos(case) == 0


def test_failed_commit_of_a_report_leaves_no_files(app, session, monkeypatch, login_as):
    """A report whose final commit fails answers with the error page and leaves no case and no file."""
    real_submit = residents.submit_report

    def submit_then_break(values, uploads):
        case = real_submit(values, uploads)
        db.session.add(Attachment(case=case, stored_name=case.attachments[0].stored_name, content_type="image/png"))
        return case

    monkeypatch.setattr(residents, "submit_report", submit_then_break)
    cases, files = db.session.scalar(select(func.count()).select_from(Case)), files_on_disk(app)
    data = report_form()
    data["photos"] = [upload(image_bytes("PNG"), "a.png"), upload(image_bytes("PNG"), "b.png")]
    response = login_as().post("/report", data)
    assert response.status_code == 500 and "系统暂时出了问题" in response.text
    assert db.session.scalar(select(func.count()).select_from(Case)) == cases
    assert files_on_disk(app) == files


def test_committed_photos_stay_when_a_later_transaction_rolls_back(app, session):
    case = case_in("handling", building_of())
    before = files_on_disk(app)
    attach_two(case)
    db.session.commit()
    kept = files_on_disk(app) - before
    assert len(kept) == 4
    # The next transaction writes more photos and something else, then rolls back.
    transitions.add_event(user("wuye01"), case, "comment", "comment", "稍后补充")
    attach_two(case)
    db.session.rollback()
    assert files_on_disk(app) - before == kept
    assert count_photos(case) == 2 and all(stored(a).is_file() for a in db.session.get(Case, case.id).attachments)


def test_savepoints_hand_their_files_to_the_enclosing_transaction(app, session):
    case = case_in("handling", building_of())
    before = files_on_disk(app)
    with db.session.begin_nested():  # released: its photos now live or die with the outer transaction
        attach_two(case)
    assert len(files_on_disk(app) - before) == 4
    nested = db.session.begin_nested()
    attach_two(case)
    nested.rollback()  # only this savepoint's files go
    assert len(files_on_disk(app) - before) == 4
    db.session.rollback()
    assert files_on_disk(app) == before

    with db.session.begin_nested():
        attach_two(case)
    db.session.commit()
    assert len(files_on_disk(app) - before) == 4 and count_photos(case) == 2
