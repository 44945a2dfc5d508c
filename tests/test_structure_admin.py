"""The structure screens: who opens them, creating and editing rows in place, errors next to the
field with the typed input kept, the version check (409), deactivation, and the audit."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from casework.extensions import db
from casework.models import AuditEntry, Building, CaseEvent, Community, Grid, Organisation
from conftest import user
from case_steps import parse


def building(code: str) -> Building:
    return db.session.scalars(select(Building).where(Building.code == code)).one()


def grid(code: str) -> Grid:
    return db.session.scalars(select(Grid).where(Grid.code == code)).one()


def building_form(b: Building, **override) -> dict:
    data = {"code": b.code, "name": b.name, "address": b.address, "grid_id": str(b.grid_id),
            "property_company_id": str(b.property_company_id or ""), "units": str(b.units),
            "households": str(b.households), "latitude": "", "longitude": "", "active": "1",
            "version": str(b.version)}
    data.update(override)
    return data


@pytest.mark.parametrize("username, status", [("admin", 200), ("shequ01", 200), ("wangge01", 404),
                                              ("wuye01", 404), ("jiedao", 404)])
def test_who_opens_the_structure_screens(login_as, username, status):
    assert login_as(username).get("/admin/structure/building/").status_code == status


def test_supervisor_manages_only_their_community_and_not_organisations(login_as):
    sup = login_as("shequ01")  # 青松社区 (C01): grids G101–G103
    page = sup.get("/admin/structure/building/")
    assert "G101-01" in page.text and "G201-01" not in page.text
    assert sup.get(f"/admin/structure/building/{building('G201-01').id}?edit=1").status_code == 404
    assert sup.get("/admin/structure/organisation/").status_code == 404
    assert sup.get("/admin/structure/category/").status_code == 404
    assert sup.get("/admin/import").status_code == 404
    assert sup.get("/admin/limits").status_code == 404
    # Moving one of their buildings into another community's grid is not offered, and refused if posted.
    b = building("G101-02")
    response = sup.post(f"/admin/structure/building/{b.id}", data=building_form(b, grid_id=str(grid("G201").id)),
                        htmx=True)
    assert response.status_code == 422 and "请从列表中选择" in response.text
    db.session.refresh(b)
    assert b.grid.code == "G101"


def test_edit_in_place_validates_next_to_the_field_and_keeps_typed_input(login_as):
    admin = login_as("admin")
    b = building("G101-01")
    form = admin.get(f"/admin/structure/building/{b.id}?edit=1", headers={"HX-Request": "true"})
    assert form.status_code == 200 and f'id="building-{b.id}"' in form.text and 'name="version"' in form.text
    bad = admin.post(f"/admin/structure/building/{b.id}",
                     data=building_form(b, name="新名字", units="三", latitude="95"), htmx=True)
    assert bad.status_code == 422
    assert parse(bad.text).find(id=f"building-{b.id}-units-error").text == "请输入整数。"
    assert "应在 -90 到 90 之间" in bad.text
    assert 'value="新名字"' in bad.text and 'value="三"' in bad.text  # typed input kept
    db.session.refresh(b)
    assert b.name != "新名字"
    ok = admin.post(f"/admin/structure/building/{b.id}",
                    data=building_form(b, name="青松苑1幢（东）", units="4", households="48", latitude="30.27",
                                       longitude="120.16"), htmx=True)
    assert ok.status_code == 200 and "青松苑1幢（东）" in ok.text and "<form" not in ok.text
    db.session.refresh(b)
    assert (b.name, b.units, b.households, b.latitude, b.version) == ("青松苑1幢（东）", 4, 48, 30.27, 2)
    entry = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert entry.action == "admin.update" and entry.object == f"building:{b.id}"
    assert json.loads(entry.details)["changes"]["units"] == [0, 4]


def test_a_concurrent_edit_gets_a_readable_409(login_as):
    admin = login_as("admin")
    b = building("G101-03")
    seen = str(b.version)
    first = admin.post(f"/admin/structure/building/{b.id}", data=building_form(b, name="甲改的名字"), htmx=True)
    assert first.status_code == 200
    second = admin.post(f"/admin/structure/building/{b.id}",
                        data=building_form(b, name="乙改的名字", version=seen), htmx=True)
    assert second.status_code == 409 and "已被其他人修改" in second.text
    assert "甲改的名字" in second.text  # the fresh row is shown
    db.session.refresh(b)
    assert b.name == "甲改的名字"


def test_moving_a_building_on_the_screen_notes_its_open_cases(login_as, make_case):
    admin = login_as("admin")
    b = user("wangge01").grids[0].buildings[0]
    case = make_case(b)
    response = admin.post(f"/admin/structure/building/{b.id}", data=building_form(b, grid_id=str(grid("G103").id)),
                          htmx=True)
    assert response.status_code == 200 and "已在时间线上记录楼栋调整" in response.text
    db.session.refresh(case)
    assert case.grid_id == grid("G103").id
    assert db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                      CaseEvent.event == "building_moved")).one()
    page = login_as("wangge03").get(f"/cases/{case.id}")
    assert page.status_code == 200 and "楼栋调整" in page.text


def test_create_organisation_masks_its_contact_and_refuses_a_duplicate_name(login_as):
    admin = login_as("admin")
    data = {"code": "WY09", "name": "新城物业服务有限公司", "kind": "property", "contact_name": "周经理",
            "phone": "170 0000 1234", "community_ids": [str(c.id) for c in db.session.scalars(select(Community))]}
    page = admin.post("/admin/structure/organisation/", data=data)
    assert page.status_code == 200 and "已新增 WY09" in page.text
    assert "170****1234" in page.text and "17000001234" not in page.text
    org = db.session.scalars(select(Organisation).where(Organisation.code == "WY09")).one()
    assert org.phone == "17000001234" and len(org.communities) == 2
    details = db.session.scalars(select(AuditEntry.details).order_by(AuditEntry.id.desc())).first()
    assert "17000001234" not in details and "周经理" not in details  # no personal data in the audit
    again = admin.post("/admin/structure/organisation/", data={**data, "code": "WY10", "phone": "12345"})
    assert again.status_code == 422
    assert "已有同名单位。" in again.text and "请输入手机号或带区号的固定电话" in again.text
    assert 'value="WY10"' in again.text


def test_new_account_gets_a_code_shown_once_and_can_be_deactivated(login_as):
    admin = login_as("admin")
    data = {"username": "wg_new", "display_name": "新网格员", "role": "grid_staff", "phone": "17000000099",
            "grid_ids": [str(grid("G101").id)]}
    missing = admin.post("/admin/structure/user/", data={**data, "grid_ids": []})
    assert missing.status_code == 422 and "网格员至少负责一个网格。" in missing.text
    page = admin.post("/admin/structure/user/", data=data)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    code = [p.find("strong").text for p in parse(page.text).find_all("p")
            if "activation-code" in (p.get("class") or "").split()]
    assert len(code) == 1  # shown once, on the new account only
    new = user("wg_new")
    assert new.activation_hash and not new.check_password(code[0])
    form = {"display_name": new.display_name, "role": "grid_staff", "phone": "17000000099",
            "grid_ids": [str(grid("G101").id)], "version": str(new.version)}  # no "active": unticked
    off = admin.post(f"/admin/structure/user/{new.id}", data=form, htmx=True)
    assert off.status_code == 200 and "停用" in off.text
    db.session.refresh(new)
    assert new.active is False


def test_supervisor_adds_a_building_leader_in_their_community_only(login_as):
    sup = login_as("shequ01")
    other = building("G201-01")
    refused = sup.post("/admin/structure/user/", data={"username": "lz_x", "display_name": "外社区楼栋长",
                                                       "role": "building_leader", "building_ids": [str(other.id)]})
    assert refused.status_code == 422 and "请从列表中选择" in refused.text
    ok = sup.post("/admin/structure/user/", data={"username": "lz_new", "display_name": "新楼栋长",
                                                  "role": "building_leader",
                                                  "building_ids": [str(building("G101-04").id)]})
    assert ok.status_code == 200 and "已新增 lz_new" in ok.text
    grid_role = sup.post("/admin/structure/user/", data={"username": "wg_x", "display_name": "x", "role": "grid_staff",
                                                         "grid_ids": [str(grid("G101").id)]})
    assert grid_role.status_code == 422


def test_grids_show_their_staff_and_categories_link_to_their_time_limits(login_as):
    admin = login_as("admin")
    page = admin.get("/admin/structure/grid/")
    g = grid("G101")
    row = page.text.split(f'id="grid-{g.id}"')[1].split('class="card srow')[0]
    assert user("wangge01").display_name in row
    cats = admin.get("/admin/structure/category/")
    assert "/admin/limits?category=" in cats.text


def test_admin_adds_a_community_and_a_category_and_a_supervisor_a_grid(login_as):
    admin = login_as("admin")
    page = admin.post("/admin/structure/community/", data={"code": "C09", "name": "新建社区"})
    assert page.status_code == 200 and "已新增 C09" in page.text
    dup = admin.post("/admin/structure/community/", data={"code": "C09", "name": "重复社区"})
    assert dup.status_code == 422 and "这个编码已被使用。" in dup.text and 'value="重复社区"' in dup.text
    cat = admin.post("/admin/structure/category/", data={"code": "parking", "name_zh": "停车管理",
                                                         "name_en": "Parking", "default_priority": "normal"})
    assert cat.status_code == 200 and "停车管理" in cat.text
    sup = login_as("shequ01")
    own = db.session.scalars(select(Community).where(Community.code == "C01")).one()
    made = sup.post("/admin/structure/grid/", data={"code": "G109", "name": "青松第9网格", "community_id": str(own.id)})
    assert made.status_code == 200 and grid("G109").community_id == own.id
    other = db.session.scalars(select(Community).where(Community.code == "C02")).one()
    refused = sup.post("/admin/structure/grid/", data={"code": "G209", "name": "溪畔第9网格",
                                                       "community_id": str(other.id)})
    assert refused.status_code == 422 and "请从列表中选择" in refused.text
    assert sup.get(f"/admin/structure/grid/{grid('G201').id}").status_code == 404
