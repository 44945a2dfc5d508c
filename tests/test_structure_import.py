"""Structure import and export: workbook → dry-run plan → apply (or nothing), round trip, CSV,
errors by sheet/row/column, the building-move rule, activation codes, and the CLI."""
from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest
import time_machine
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from casework.extensions import db
from casework.models import AuditEntry, Building, CaseEvent, Community, Grid, User
from casework.services import importing
from conftest import SUITE_NOW, user
from case_steps import parse

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "structure-example.xlsx"
def activation_codes(html: str) -> list[str]:
    """The activation codes printed on the sheet (one per <td class="code">)."""
    return [td.text for td in parse(html).find_all("td", class_="code")]


def workbook(sheets: dict[str, list[list]]) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        ws = book.create_sheet(name)
        for row in rows:
            ws.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def header(sheet: str) -> list[str]:
    return [h for _f, h in importing.COLUMNS[sheet]]


def plan_of(data: bytes, name: str = "s.xlsx") -> importing.Plan:
    return importing.build_plan(importing.read_files([(name, data)]))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def upload(client, data: bytes, name: str = "structure.xlsx"):
    return client.post("/admin/import", data={"files": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def test_export_then_import_changes_nothing(session):
    data = importing.export_workbook()
    plan = plan_of(data)
    assert plan.ok, plan.errors
    counts = plan.counts()
    assert counts["楼栋"] == {"add": 0, "change": 0, "deactivate": 0, "unchanged": 30}
    assert counts["人员"]["unchanged"] == 25 and not plan.changed()
    # The same round trip through CSV files, one per sheet.
    csvs = [(f"{s}.csv", importing.export_csv(s)) for s in importing.SHEET_ORDER]
    plan = importing.build_plan(importing.read_files(csvs))
    assert plan.ok and not plan.changed()


def test_admin_previews_then_applies_the_example_and_a_second_import_changes_nothing(login_as):
    admin = login_as("admin")
    before = (count(Community), count(Building), count(User))
    page = upload(admin, EXAMPLE.read_bytes(), "structure-example.xlsx")
    assert page.status_code == 200
    assert "检查结果" in page.text and "确认导入" in page.text
    assert (count(Community), count(Building), count(User)) == before  # a dry run changes nothing
    token = parse(page.text).find("input", name="token").get("value")
    done = admin.post("/admin/import/apply", data={"token": token})
    assert done.status_code == 200 and "导入完成" in done.text
    assert count(Community) == before[0] + 3 and count(Building) == before[1] + 60
    assert done.headers["Cache-Control"] == "no-store"
    codes = activation_codes(done.text)
    assert len(codes) == 80  # every new account, on sheets per grid
    assert "账号激活单 · SQ01-WG01" in done.text
    member = db.session.scalars(select(User).where(User.username == "wg0001")).one()
    assert member.role == "grid_staff" and [g.code for g in member.grids] == ["SQ01-WG01"]
    assert member.activation_hash and codes[0] not in member.activation_hash
    actions = db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id.desc()).limit(2)).all()
    assert set(actions) == {"import.apply", "activation.issued"}
    again = upload(admin, EXAMPLE.read_bytes(), "structure-example.xlsx")
    assert "文件与当前数据一致，无需导入。" in again.text and "确认导入" not in again.text
    # The token was used up: applying it twice is refused readably.
    assert admin.post("/admin/import/apply", data={"token": token}).status_code == 409


def test_every_error_is_reported_with_sheet_row_column_and_nothing_is_written(login_as):
    admin = login_as("admin")
    data = workbook({
        "网格": [header("网格"), ["N01", "新网格", "NOPE", "启用"]],
        "楼栋": [header("楼栋"), ["B-1", "一号楼", "", "", 2, 24, "", "", "", ""],
                 ["B-1", "又一号楼", "G101", "", 2, 24, "", "", "", ""],
                 ["B-2", "二号楼", "G101", "", "两个", 24, "WY01", "91", "", "停"]],
        "人员": [header("人员"), ["zhang3", "张三", "网格员", "1390000", "", "", "G101", "", ""],
                 ["admin", "改管理员", "街道督导", "", "", "", "", "", ""]],
    })
    before = count(Grid), count(Building), count(User)
    page = upload(admin, data)
    assert page.status_code == 422
    rows = [r for r in ([td.text for td in tr.find_all("td")] for tr in parse(page.text).find_all("tr"))
            if len(r) == 4 and r[1].isdigit()]  # the error table: sheet, row, column, reason
    found = {(r[0], int(r[1]), r[2]) for r in rows}
    assert ("网格", 2, "社区编码") in found  # unknown community
    assert ("楼栋", 2, "网格编码") in found  # building without grid
    assert ("楼栋", 3, "楼栋编码") in found  # duplicate code
    assert {("楼栋", 4, "单元数"), ("楼栋", 4, "纬度"), ("楼栋", 4, "状态")} <= found
    assert ("人员", 2, "手机号") in found and ("人员", 3, "账号") in found
    messages = " ".join(m for *_x, m in rows)
    assert "未知社区编码“NOPE”" in messages and "重复（第 2 行已用过）" in messages
    assert "1390000" in messages and "管理员账号" in messages
    assert "确认导入" not in page.text
    assert (count(Grid), count(Building), count(User)) == before


def test_a_file_that_is_not_a_workbook_is_a_readable_422(login_as, app):
    admin = login_as("admin")
    page = upload(admin, b"%PDF-1.4 not a workbook", "structure.xlsx")
    assert page.status_code == 422 and "不是有效的 .xlsx 工作簿" in page.text
    page = upload(admin, b"hello", "structure.pdf")
    assert page.status_code == 422 and "请上传 .xlsx 工作簿" in page.text
    from casework.admin import structure as views
    saved = views.MAX_IMPORT_BYTES
    views.MAX_IMPORT_BYTES = 1000
    try:
        page = upload(admin, EXAMPLE.read_bytes())
    finally:
        views.MAX_IMPORT_BYTES = saved
    assert page.status_code == 413 and "文件太大" in page.text


def test_too_many_rows_is_refused(session, monkeypatch):
    monkeypatch.setattr(importing, "MAX_ROWS", 10)
    rows = [header("社区")] + [[f"C{i}", f"社区{i}", "", ""] for i in range(11)]
    with pytest.raises(importing.TooManyRows):
        importing.read_files([("s.xlsx", workbook({"社区": rows}))])


def test_csv_from_chinese_excel_is_read_and_deactivation_keeps_the_row(session):
    text = "\n".join([",".join(header("楼栋")), "G101-01,青松苑1幢,G101,松溪路101号,2,30,WY01,,,停用"])
    plan = importing.build_plan(importing.read_files([("楼栋.csv", text.encode("gb18030"))]))
    assert plan.ok, plan.errors
    step = next(s for s in plan.steps if s.key == "G101-01")
    assert step.action == "deactivate" and "units" in step.fields
    importing.apply(user("admin"), plan)
    db.session.commit()
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "import.apply")
                               .order_by(AuditEntry.id.desc())).first()
    assert ["楼栋", "G101-01", "deactivate", ["units", "households", "active"]] in json.loads(entry.details)["rows"]
    building = db.session.scalars(select(Building).where(Building.code == "G101-01")).one()
    assert building.active is False and building.units == 2 and building.households == 30


def test_moving_a_building_moves_waiting_cases_and_leaves_cases_in_hand(session, make_case):
    building = user("wangge01").grids[0].buildings[0]
    waiting = make_case(building)
    in_hand = make_case(building)
    in_hand.status = "handling"
    db.session.commit()
    rows = importing.export_rows()
    for row in rows["楼栋"][1:]:
        if row[0] == building.code:
            row[2] = "G102"
    plan = plan_of(importing.write_workbook(rows))
    assert plan.ok and [s.key for s in plan.steps if s.action == "change"] == [building.code]
    applied = importing.apply(user("admin"), plan)
    db.session.commit()
    assert applied.moved_cases >= 2
    g102 = db.session.scalars(select(Grid).where(Grid.code == "G102")).one()
    db.session.refresh(waiting)
    db.session.refresh(in_hand)
    assert waiting.grid_id == g102.id and in_hand.grid_id != g102.id
    notes = {c.id: db.session.scalars(select(CaseEvent.note).where(CaseEvent.case_id == c.id,
                                                                   CaseEvent.event == "building_moved")).all()
             for c in (waiting, in_hand)}
    assert "随楼栋转由" in notes[waiting.id][0] and "仍由" in notes[in_hand.id][0]
    # wangge02 (grid G102) now sees the waiting case on their scope; wangge01 keeps the one in hand.
    from casework.access import can_view
    assert can_view(user("wangge02"), waiting) and can_view(user("wangge01"), in_hand)


def test_activation_code_works_once_and_expires_after_72_hours(app, client):
    from casework.services import activation
    member = user("wangge03")
    code = activation.issue(user("admin"), member)
    db.session.commit()
    short = client.post("/activate", data={"username": "wangge03", "code": code, "password": "abc",
                                           "confirm": "abc"})
    assert short.status_code == 422 and "密码至少需要 10 个字符" in short.text
    assert 'value="wangge03"' in short.text  # typed input kept
    done = client.post("/activate", data={"username": "wangge03", "code": code.lower(), "password": "Grid-2026-pass",
                                          "confirm": "Grid-2026-pass"})
    assert done.status_code == 302
    db.session.refresh(member)
    assert member.check_password("Grid-2026-pass") and member.activation_hash is None
    again = client.post("/activate", data={"username": "wangge03", "code": code, "password": "Other-2026-pass",
                                           "confirm": "Other-2026-pass"})
    assert again.status_code == 422 and "激活码不正确" in again.text
    db.session.refresh(member)
    assert member.check_password("Grid-2026-pass")
    actions = db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id.desc()).limit(3)).all()
    assert actions[:2] == ["activation.used", "activation.used"]
    # A second code, tried 73 hours later, has expired.
    code = activation.issue(user("admin"), member)
    db.session.commit()
    with time_machine.travel(SUITE_NOW + dt.timedelta(hours=73), tick=False):
        late = client.post("/activate", data={"username": "wangge03", "code": code, "password": "Late-2026-pass",
                                              "confirm": "Late-2026-pass"})
    assert late.status_code == 422 and "已过期" in late.text


def test_cli_import_dry_run_apply_and_export(app, session, tmp_path):
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["casework", "import", str(EXAMPLE)])
    assert dry.exit_code == 0, dry.output
    assert "楼栋: +60" in dry.output and count(Building) == 30
    codes = tmp_path / "codes.csv"
    done = runner.invoke(args=["casework", "import", str(EXAMPLE), "--apply", "--codes", str(codes)])
    assert done.exit_code == 0, done.output
    assert count(Building) == 90 and len(codes.read_text(encoding="utf-8-sig").splitlines()) == 81
    out = tmp_path / "out.xlsx"
    exported = runner.invoke(args=["casework", "export", str(out)])
    assert exported.exit_code == 0
    book = load_workbook(out, read_only=True)
    assert book.sheetnames == list(importing.SHEET_ORDER)
    assert sum(1 for _ in book["楼栋"].iter_rows()) == 91
    book.close()
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(workbook({"网格": [header("网格"), ["N01", "新网格", "NOPE", ""]]}))
    failed = runner.invoke(args=["casework", "import", str(bad), "--apply"])
    assert failed.exit_code == 1 and "网格 row 2 column 社区编码" in failed.output


def test_create_user_binds_grid_member_and_building_leader_by_code(app, session):
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["casework", "create-user", "newgrid", "--role", "grid_staff", "--grid", "G101",
                             "--grid", "G102", "--password", "Grid-Member-2026"])
    assert ok.exit_code == 0, ok.output
    assert sorted(g.code for g in user("newgrid").grids) == ["G101", "G102"]
    ok = runner.invoke(args=["casework", "create-user", "newlead", "--role", "building_leader",
                             "--building", "G101-01", "--password", "Grid-Member-2026"])
    assert ok.exit_code == 0 and [b.code for b in user("newlead").buildings] == ["G101-01"]
    missing = runner.invoke(args=["casework", "create-user", "x1", "--role", "grid_staff", "--password", "pw"])
    assert missing.exit_code == 1 and "--grid" in missing.output
    unknown = runner.invoke(args=["casework", "create-user", "x2", "--role", "grid_staff", "--grid", "ZZZ",
                                  "--password", "pw"])
    assert unknown.exit_code == 1 and "no grid with code ZZZ" in unknown.output


def test_template_and_exports_download_and_exports_are_audited(login_as):
    admin = login_as("admin")
    template = admin.get("/admin/import/template.xlsx")
    assert template.status_code == 200 and template.headers["Cache-Control"] == "no-store"
    book = load_workbook(io.BytesIO(template.data), read_only=True)
    assert book.sheetnames[:5] == list(importing.SHEET_ORDER) and "说明" in book.sheetnames
    assert [c.value for c in next(book["楼栋"].iter_rows())] == header("楼栋")
    book.close()
    exported = admin.get("/admin/export/楼栋.csv")
    assert exported.status_code == 200 and "G101-01" in exported.data.decode("utf-8-sig")
    entry = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert (entry.action, entry.object) == ("export", "structure:楼栋")
    assert login_as("shequ01").get("/admin/export.xlsx").status_code == 404


def test_a_new_code_from_the_screen_also_stops_the_old_password(login_as):
    admin = login_as("admin")
    member = user("wangge04")
    assert member.check_password("demo")
    page = admin.post(f"/admin/structure/user/{member.id}/activation", htmx=True)
    assert page.status_code == 200 and "的激活码" in page.text
    db.session.refresh(member)
    assert not member.check_password("demo") and member.activation_hash
