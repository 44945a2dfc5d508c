"""Shared view helpers: one refusal answer, one age formatter, and templates that query nothing."""
from __future__ import annotations

import datetime as dt

import pytest

from case_steps import parse
from casework import ui
from casework.services.errors import Invalid, Refused
from casework.timekeeping import now


@pytest.mark.parametrize("minutes, zh, en", [
    (0, "0分钟", "0m"), (59, "59分钟", "59m"), (60, "1小时", "1h"), (23 * 60 + 59, "23小时", "23h"),
    (24 * 60, "1天", "1d"), (3 * 24 * 60 + 5, "3天", "3d"),
])
def test_one_age_formatter_in_both_languages(app, minutes, zh, en):
    at = now()
    with app.test_request_context("/"):
        assert ui.age_words(at)(at - dt.timedelta(minutes=minutes)) == zh
        assert ui.age_words(at)(None) == "", "no time, no age"
        assert ui.age_words(at)(at + dt.timedelta(minutes=5)) == "0分钟", "a clock skew is not a negative age"
    with app.test_request_context("/"):
        from flask import session
        session["lang"] = "en"  # what the language switch stores
        assert ui.age_words(at)(at - dt.timedelta(minutes=minutes)) == en


def test_one_refusal_for_htmx_and_plain_requests(app, session):
    invalid = Invalid("请检查填写的内容。", {"note": "请填写催办说明。"})
    with app.test_request_context("/", headers={"HX-Request": "true"}):
        response = ui.refused(invalid, trigger="board-refresh")
        html = response.get_data(as_text=True)
        assert response.status_code == invalid.status
        assert response.headers["HX-Retarget"] == "#alerts" and response.headers["HX-Trigger"] == "board-refresh"
        assert "请检查填写的内容。" in html and "请填写催办说明。" in html, "field errors are named too"
        assert parse(html).find("html") is None, "a fragment for the alert area"
    with app.test_request_context("/"):
        response = ui.refused(Refused("当前状态下不能执行此操作。"))
        html = response.get_data(as_text=True)
        assert response.status_code == 409 and "HX-Retarget" not in response.headers
        assert parse(html).find("html") is not None and "当前状态下不能执行此操作。" in html, "a full page"


def test_templates_have_no_globals_that_query_the_database(app):
    """The header's unread count, the due badge, the clock panel's request and the residents'
    pieces on the case page are passed by the views (ui.render_page, ui.case_panel_context)."""
    queried = {"unread_notices", "clock_pending", "due_view", "resident_duplicates", "resident_merged",
               "may_add_after_photo"}
    assert not queried & set(app.jinja_env.globals)
    with app.test_request_context("/"):
        context: dict = {}
        app.update_template_context(context)
        assert not queried & set(context)


def test_the_bell_counts_unread_notices_on_full_pages_only(login_as, make_case):
    staff = login_as("wangge01")
    page = parse(staff.get("/board/").text)
    assert page.find("a", class_="notices-link") is not None
    fragment = staff.get("/board/", headers={"HX-Request": "true", "HX-Target": "board"})
    assert fragment.status_code == 200 and "notices-link" not in fragment.text
