"""The admin in a real browser: uploads the example workbook, sees the dry-run preview, applies it
and gets the printable activation sheets; then edits a building in place (htmx, CSRF header)."""
from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning"),
]

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "structure-example.xlsx"


def test_admin_imports_the_example_and_edits_a_building_in_place(live_server, browser):
    base = live_server.base_url
    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "demo")
    page.click("main form button[type=submit]")
    page.wait_for_load_state()

    page.goto(f"{base}/admin/import")
    page.set_input_files("#import-files", str(EXAMPLE))
    page.click("text=检查（不会修改数据）")
    page.wait_for_selector("#import-plan")
    plan = page.locator("#import-plan")
    assert "检查结果" in plan.inner_text()
    row = plan.locator("tr", has_text="楼栋").first
    assert row.locator(".count-add").inner_text() == "60"
    page.click("#apply-import")
    page.wait_for_selector("#import-result")
    assert page.locator(".activation-sheet").count() >= 9
    assert "账号激活单 · SQ01-WG01" in page.content()

    page.goto(f"{base}/admin/structure/building/?q=SQ01-WG01-LD001")
    card = page.locator(".srow").first
    card.locator("text=编辑").click()
    page.wait_for_selector(".srow form")
    name = page.locator(".srow form input[name=name]")
    name.fill("")
    page.locator(".srow form button[type=submit]").click()
    page.wait_for_selector(".srow .field-error")
    assert "必填" in page.locator(".srow .field-error").first.inner_text()
    page.locator(".srow form input[name=name]").fill("示例一号楼（改）")
    page.locator(".srow form button[type=submit]").click()
    page.wait_for_selector(".srow dd:has-text('示例一号楼（改）')")
    assert page.locator(".srow form").count() == 0
    assert errors == []
    ctx.close()
