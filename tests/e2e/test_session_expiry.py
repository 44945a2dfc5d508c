"""An expired session during a board refresh: the browser shows the login page as a whole page
(htmx follows HX-Redirect), never the login form swapped into a board column."""
from __future__ import annotations

import pytest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning"),
]


def test_expired_session_during_a_board_refresh_goes_to_the_login_page(live_server, browser):
    base = live_server.base_url
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(f"{base}/login")
        page.fill("input[name=username]", "wangge02")
        page.fill("input[name=password]", "demo")
        page.click("main form button[type=submit]")
        page.wait_for_url(f"{base}/board/")
        page.wait_for_selector("#board .bcol")
        # The session ends on the server while the board sits open (the suite's clock is frozen, so
        # the session is ended as a timeout, a logout elsewhere or a deactivation ends it: a new token).
        from sqlalchemy import select

        from casework.extensions import db
        from casework.models import User
        from casework.services import accounts
        with live_server.app_context():
            accounts.end_sessions(db.session.scalars(select(User).where(User.username == "wangge02")).one())
            db.session.commit()
        page.evaluate("htmx.trigger(document.body, 'board-refresh')")  # what an action or the poll does
        page.wait_for_url(f"{base}/login?**", timeout=10_000)
        page.wait_for_selector("main input[name=username]")
        assert page.locator("#board").count() == 0
        assert page.locator(".bcol input[name=username]").count() == 0
        assert page.locator("input[name=username]").count() == 1
        assert "登录已失效" in page.locator("main").inner_text()
        assert "next=/board/" in page.url
    finally:
        context.close()
