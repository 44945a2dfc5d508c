"""Going live on a fresh database without the demo, as a new subdistrict would (docs/admin.md):
first admin from the CLI → log in → import the example workbook (preview, apply) → activate a grid
member → their empty board → a resident reports for an imported building → the case is on that board."""
from __future__ import annotations

import io
from pathlib import Path

import pytest

from casework.extensions import db, limiter
from case_steps import csrf_token, parse
from conftest import Client, FreshContextClient
from dbtools import app_on, throwaway_database

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "structure-example.xlsx"


@pytest.fixture
def fresh_app(app, tmp_path):
    """A new app on an empty database of the same backend as `app` (created and dropped here)."""
    with throwaway_database(app.backend, tmp_path, "golive") as url, app_on(url, tmp_path / "uploads") as fresh:
        fresh.test_client_class = FreshContextClient
        with fresh.app_context():
            db.create_all()
        try:
            yield fresh
        finally:
            limiter.init_app(app)  # the limiter is shared: give it back to the suite's app


def test_a_subdistrict_goes_live_from_the_example_workbook(fresh_app):
    runner = fresh_app.test_cli_runner()
    made = runner.invoke(args=["casework", "create-user", "boss", "--role", "admin", "--password", "Start2026go"])
    assert made.exit_code == 0, made.output
    assert runner.invoke(args=["casework", "init-categories"]).exit_code == 0

    admin = Client(fresh_app)
    admin.login_as("boss", "Start2026go")
    preview = admin.post("/admin/import", data={"files": (io.BytesIO(EXAMPLE.read_bytes()), EXAMPLE.name)},
                         content_type="multipart/form-data")
    assert preview.status_code == 200 and "确认导入" in preview.text
    token = parse(preview.text).find("input", name="token").get("value")
    done = admin.post("/admin/import/apply", data={"token": token})
    assert done.status_code == 200
    (row,) = [tr for tr in parse(done.text).find_all("tr")
              if [td.text for td in tr.find_all("td")][:1] == ["wg0001"] and tr.find("td", class_="code")]
    assert [td.text for td in row.find_all("td")][2] == "网格员"
    code = row.find("td", class_="code").text

    member = Client(fresh_app)
    activated = member.post("/activate", data={"username": "wg0001", "code": code, "password": "Grid-2026-ok!",
                                               "confirm": "Grid-2026-ok!"})
    assert activated.status_code == 302
    member.login_as("wg0001", "Grid-2026-ok!")
    board = member.get("/board/")
    assert board.status_code == 200 and 'class="kcard' not in board.text

    resident = fresh_app.test_client()
    form = resident.get("/report")
    token = csrf_token(form.text)
    with fresh_app.app_context():
        from sqlalchemy import select

        from casework.models import Building, Category
        building = db.session.scalars(select(Building).where(Building.code == "SQ01-WG01-LD001")).one()
        ids = {"community_id": str(building.grid.community_id), "building_id": str(building.id),
               "category_id": str(db.session.scalars(select(Category.id).where(Category.code == "facilities")).one())}
    sent = resident.post("/report", data={**ids, "unit": "1单元202", "description": "楼道灯坏了好几天，晚上看不见。",
                                          "reporter_name": "居民甲", "reporter_phone": "17000009999", "consent": "1",
                                          "csrf_token": token})
    assert sent.status_code == 303, sent.text
    board = member.get("/board/")
    assert 'class="kcard' in board.text and "楼道灯坏了好几天" in board.text
