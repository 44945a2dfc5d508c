"""Test helpers for the residents' feature: images made with Pillow, and a resident's report posted
through the real form. Imported by test_public.py, test_photos.py and test_privacy.py."""
from __future__ import annotations

import io
import re

from PIL import Image
from sqlalchemy import select

from casework.extensions import db
from casework.models import Building, Case, Category

GPS_IFD = 0x8825
TRACK_RE = re.compile(r"/track/([23456789A-HJKMNP-Z]{10})")


def image_bytes(fmt: str = "PNG", size=(64, 48), *, gps: bool = False, color=(200, 30, 30)) -> bytes:
    """A small image; with `gps`, its EXIF carries a camera maker and a GPS position."""
    img = Image.new("RGB", size, color)
    out = io.BytesIO()
    if gps:
        exif = Image.Exif()
        exif[0x010F] = "SpyCam"  # Make
        gps_ifd = exif.get_ifd(GPS_IFD)
        gps_ifd[1] = "N"
        gps_ifd[2] = (30.0, 15.0, 12.0)
        gps_ifd[3] = "E"
        gps_ifd[4] = (120.0, 10.0, 5.0)
        img.save(out, fmt, exif=exif)
    else:
        img.save(out, fmt)
    return out.getvalue()


def upload(data: bytes, name: str = "photo.png", content_type: str = "image/png"):
    """One file part for the test client (a fresh stream each time)."""
    return (io.BytesIO(data), name, content_type)


def building_of(username: str = "wangge01") -> Building:
    """The first building in the user's grid (wangge01's is served by 万家物业, i.e. wuye01)."""
    from conftest import user
    return user(username).grids[0].buildings[0]


def category(code: str = "facilities") -> Category:
    return db.session.scalars(select(Category).where(Category.code == code)).one()


def report_form(building: Building | None = None, **override) -> dict:
    """A valid report as the resident's phone would post it."""
    building = building or building_of()
    data = {
        "community_id": str(building.grid.community_id), "building_id": str(building.id),
        "category_id": str(category().id), "unit": "2单元301",
        "description": "3单元楼道声控灯坏了一周，晚上看不见路。", "reporter_name": "李阿姨",
        "reporter_phone": "139 8765 4321", "consent": "1",
    }
    data.update(override)
    return {k: v for k, v in data.items() if v is not None}


def submit(client, building: Building | None = None, **override) -> Case:
    """Post a valid report and return the case it created."""
    response = client.post("/report", report_form(building, **override))
    assert response.status_code == 303, response.text
    code = TRACK_RE.search(response.headers["Location"]).group(1)
    return db.session.scalars(select(Case).where(Case.tracking_code == code)).one()


def fetch(client, url: str) -> tuple[int, str, bytes]:
    """GET a file (photo, thumbnail) and close the response, so no file handle is left open."""
    response = client.get(url)
    try:
        return response.status_code, response.mimetype, response.get_data()
    finally:
        response.close()


def post_multipart(client, url: str, data: dict, **kw):
    """POST a large multipart form encoded in memory.

    The test client spools bodies over 500 KB to a temporary file that it never closes (a
    ResourceWarning, an error under filterwarnings=error); encoding it here avoids that.
    """
    from werkzeug.datastructures import MultiDict
    from werkzeug.test import encode_multipart
    fields = MultiDict()
    for key, value in data.items():
        for item in (value if isinstance(value, list) else [value]):
            if isinstance(item, tuple):
                stream, name, content_type = item
                from werkzeug.datastructures import FileStorage
                item = FileStorage(stream=stream, filename=name, content_type=content_type)
            fields.add(key, item)
    boundary, body = encode_multipart(fields)
    headers = {"X-CSRFToken": client.csrf(), **kw.pop("headers", {})}
    return client.http.post(url, data=body, content_type=f"multipart/form-data; boundary={boundary}",
                            headers=headers, **kw)
