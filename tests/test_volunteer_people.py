"""Staff add volunteers by hand and import them (dry run, then apply), phones masked; a volunteer
linked to a staff account sees their card link (one person, several hats)."""
from __future__ import annotations

import io

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from case_steps import parse
from volunteer_steps import community, staff, team

from casework.extensions import db
from casework.models import TeamMembership, Volunteer


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def person_form(**over) -> dict:
    data = {"name": "周大姐", "mobile": "13900006666", "community_id": str(community().id),
            "skills": "包饺子", "availability": "工作日上午", "consent": "1"}
    data.update(over)
    return data


def csv_file(rows: list[list[str]], header=("姓名", "手机号", "社区编码", "技能特长", "可服务时间", "志愿服务队", "关联账号")):
    text = "\ufeff" + "\r\n".join(",".join(r) for r in [list(header)] + rows) + "\r\n"
    return (io.BytesIO(text.encode("utf-8")), "volunteers.csv")


def test_supervisor_adds_a_volunteer_in_person(app, session, login_as):
    sup = login_as("shequ01")
    page = sup.get("/volunteers/people/new")
    assert page.status_code == 200 and "个人信息保护法" in page.text
    options = [o.text for o in parse(page.text).find("select", name="community_id").find_all("option")][1:]
    assert options == ["青松社区"]  # only the supervisor's own community
    response = sup.post("/volunteers/people/new", person_form())
    assert response.status_code == 303
    v = db.session.scalars(select(Volunteer).where(Volunteer.mobile == "13900006666")).one()
    assert v.name == "周大姐" and "工作人员代为登记" in v.consent_text
    card = sup.get(response.headers["Location"])
    assert "139****6666" in card.text and "13900006666" not in card.text


@pytest.mark.parametrize("over,status,message", [
    ({"consent": ""}, 422, "需要您同意个人信息的收集和使用"),
    ({"mobile": "12345"}, 422, "请输入正确的 11 位手机号码"),
    ({"community_id": "__other__"}, 422, "只能登记您所辖社区的志愿者"),
])
def test_bad_additions_change_nothing(app, session, over, status, message, login_as):
    if over.get("community_id") == "__other__":
        over = {"community_id": str(community("溪畔社区").id)}
    before = count(Volunteer)
    response = login_as("shequ01").post("/volunteers/people/new", person_form(**over))
    assert response.status_code == status and message in response.text
    assert 'value="包饺子"' in response.text
    assert count(Volunteer) == before


def test_handlers_and_building_leaders_cannot_add(app, session, login_as):
    assert login_as("hehuo01").get("/volunteers/people/new").status_code == 404
    assert login_as("louzhang01").get("/volunteers/people/new").status_code == 403


def test_import_dry_run_then_apply_and_twice_adds_nothing(app, session, login_as):
    sup = login_as("shequ01")
    code = community().code
    rows = [["吴阿姨", "13900007777", code, "理发", "周末", "邻里帮帮志愿维修队", ""],
            ["郑师傅", "139 0000 8888", code, "", "", "", "louzhang01"]]
    preview = sup.post("/volunteers/people/import", {"file": csv_file(rows), "consent": "1"},
                       content_type="multipart/form-data")
    assert preview.status_code == 200, preview.text[:3000]
    plan = parse(preview.text).find("section", id="import-plan")
    assert "新增 2 人" in plan.text and "139****7777" in plan.text and "13900007777" not in preview.text
    assert count(Volunteer) == 0  # a dry run writes nothing
    token = parse(preview.text).find("input", name="token").get("value")
    done = sup.post("/volunteers/people/import/apply", {"token": token})
    assert done.status_code == 200 and "已导入 2 名志愿者" in done.text
    wu = db.session.scalars(select(Volunteer).where(Volunteer.name == "吴阿姨")).one()
    zheng = db.session.scalars(select(Volunteer).where(Volunteer.name == "郑师傅")).one()
    assert zheng.mobile == "13900008888" and zheng.user_id == staff("louzhang01").id
    membership = db.session.scalars(select(TeamMembership).where(TeamMembership.volunteer_id == wu.id)).one()
    assert membership.status == "approved" and membership.team_id == team().id
    # The same token cannot be applied twice; the same file again adds nobody.
    assert sup.post("/volunteers/people/import/apply", {"token": token}).status_code == 409
    again = sup.post("/volunteers/people/import", {"file": csv_file(rows), "consent": "1"},
                     content_type="multipart/form-data")
    assert again.status_code == 200 and "新增 0 人，已登记 2 人" in again.text
    assert parse(again.text).find("input", name="token") is None
    assert count(Volunteer) == 2


def test_import_from_a_workbook(app, session, login_as):
    book = Workbook()
    sheet = book.active
    sheet.title = "志愿者"
    sheet.append(["姓名", "手机号", "社区编码"])
    sheet.append(["钱老师", 13900009999, community().code])
    data = io.BytesIO()
    book.save(data)
    data.seek(0)
    sup = login_as("shequ01")
    preview = sup.post("/volunteers/people/import", {"file": (data, "名单.xlsx"), "consent": "1"},
                       content_type="multipart/form-data")
    assert preview.status_code == 200 and "新增 1 人" in preview.text
    token = parse(preview.text).find("input", name="token").get("value")
    assert sup.post("/volunteers/people/import/apply", {"token": token}).status_code == 200
    assert db.session.scalars(select(Volunteer.mobile).where(Volunteer.name == "钱老师")).one() == "13900009999"


def test_import_errors_are_listed_by_row_and_nothing_is_written(app, session, login_as):
    sup = login_as("shequ01")
    rows = [["", "13900007777", community().code, "", "", "", ""],
            ["甲", "13900007777", "NOPE", "", "", "", ""],
            ["乙", "13900001234", community("溪畔社区").code, "", "", "", ""],
            ["丙", "13900001235", community().code, "", "", "不存在的队", "nobody"]]
    response = sup.post("/volunteers/people/import", {"file": csv_file(rows), "consent": "1"},
                        content_type="multipart/form-data")
    assert response.status_code == 422
    page = parse(response.text)
    assert "请填写姓名" in page.find("tr", id="row-2").text
    assert "没有这个社区编码" in page.find("tr", id="row-3").text
    assert "只能登记您所辖社区的志愿者" in page.find("tr", id="row-4").text
    assert "没有这支志愿服务队" in page.find("tr", id="row-5").text and "没有这个账号" in page.find("tr", id="row-5").text
    assert page.find("input", name="token") is None and count(Volunteer) == 0


@pytest.mark.parametrize("upload,status,message", [
    ((b"hello", "list.txt"), 422, "请上传 .xlsx 工作簿或 .csv 文件"),
    ((b"not a zip", "list.xlsx"), 422, "不是有效的 .xlsx 工作簿"),
    (("姓名,电话\r\n".encode(), "list.csv"), 422, "缺少列"),
])
def test_unreadable_uploads_are_refused(app, session, upload, status, message, login_as):
    response = login_as("shequ01").post("/volunteers/people/import", {"file": (io.BytesIO(upload[0]), upload[1]), "consent": "1"},
                                        content_type="multipart/form-data")
    assert response.status_code == status and message in response.text


def test_import_needs_the_consent_declaration(app, session, login_as):
    response = login_as("shequ01").post("/volunteers/people/import", {"file": csv_file([])},
                                        content_type="multipart/form-data")
    assert response.status_code == 422 and "书面同意" in response.text


def test_a_building_leader_who_volunteers_sees_their_card_link(app, session, login_as):
    sup = login_as("shequ01")
    sup.post("/volunteers/people/new", person_form())
    v = db.session.scalars(select(Volunteer).where(Volunteer.mobile == "13900006666")).one()
    leader = login_as("louzhang01")
    assert parse(leader.get("/board/").text).find("a", id="my-volunteer-card") is None
    bad = sup.post(f"/volunteers/people/{v.card_code}/account", {"username": "nobody"})
    assert bad.status_code == 422 and "没有这个账号" in bad.text
    assert sup.post(f"/volunteers/people/{v.card_code}/account", {"username": "louzhang01"}).status_code == 303
    link = parse(leader.get("/board/").text).find("a", id="my-volunteer-card")
    assert link is not None and link.get("href") == f"/v/card/{v.card_code}"
    assert "已关联" in sup.get(f"/volunteers/people/{v.card_code}").text
    # One account is one volunteer.
    other = login_as("shequ01")
    other.post("/volunteers/people/new", person_form(mobile="13900006667", name="另一位"))
    w = db.session.scalars(select(Volunteer).where(Volunteer.mobile == "13900006667")).one()
    taken = sup.post(f"/volunteers/people/{w.card_code}/account", {"username": "louzhang01"})
    assert taken.status_code == 409 and "已经关联了另一位志愿者" in taken.text
    assert sup.post(f"/volunteers/people/{v.card_code}/account", {"unlink": "1"}).status_code == 303
    assert parse(leader.get("/board/").text).find("a", id="my-volunteer-card") is None
