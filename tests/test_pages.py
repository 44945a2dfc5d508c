"""Log in, log out, the landing redirect, the language switch, and the headers every page carries."""
from __future__ import annotations

import pytest

from case_steps import parse


DEMO_USERS = ["admin", "jiedao", "shequ01", "wangge01", "wangge02", "louzhang01", "wuye01", "hehuo01"]


def _html_lang(html: str) -> str:
    return parse(html).find("html").get("lang")


@pytest.mark.parametrize("name", DEMO_USERS)
def test_home_sends_each_user_to_their_work_list(app, session, name, login_as):
    client = login_as(name)
    home = client.get("/")
    assert home.status_code == 302
    page = client.get(home.headers["Location"])
    assert page.status_code == 200
    assert "退出" in page.text, "the page belongs to a logged-in user"
    assert page.headers["Cache-Control"] == "no-store"


def test_anonymous_visitor_is_sent_to_login(app, session, login_as):
    client = login_as()
    assert client.get("/").headers["Location"].endswith("/login")
    response = client.get("/cases/42")
    assert response.status_code == 302 and "/login?next=" in response.headers["Location"]
    page = client.get("/login")
    assert page.status_code == 200 and 'name="username"' in page.text and 'name="password"' in page.text


def test_wrong_password_is_422_with_a_message_and_the_username_kept(app, session, login_as):
    client = login_as()
    response = client.post("/login", {"username": "wangge01", "password": "wrong", "csrf_token": client.csrf()})
    assert response.status_code == 422
    assert "用户名或密码不正确。" in response.text
    assert 'value="wangge01"' in response.text and 'value="wrong"' not in response.text
    assert client.get("/cases/").status_code == 302, "still logged out"
    # Unknown user: the same message, so usernames cannot be probed.
    response = client.post("/login", {"username": "nobody", "password": "demo", "csrf_token": client.csrf()})
    assert response.status_code == 422 and "用户名或密码不正确。" in response.text
    # Empty fields: messages next to the fields.
    response = client.post("/login", {"username": "", "password": "", "csrf_token": client.csrf()})
    assert response.status_code == 422
    assert "请输入用户名。" in response.text and "请输入密码。" in response.text


def test_login_without_csrf_token_is_a_readable_400(app, session, login_as):
    client = login_as()
    response = client.post("/login", {"username": "wangge01", "password": "demo"}, csrf=False)
    assert response.status_code == 400 and "安全校验失败" in response.text


def test_logout_is_a_post_and_ends_the_session(app, session, login_as):
    client = login_as("wangge01")
    assert client.get("/logout").status_code == 405
    assert client.get("/cases/").status_code == 200
    response = client.post("/logout")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    assert client.get("/cases/").status_code == 302


@pytest.mark.parametrize("target,followed", [
    ("/cases/?status=triage", True),
    ("/intake/new", True),
    ("https://evil.example/", False),
    ("//evil.example/", False),
    ("/\\evil.example/", False),
    ("\\\\evil.example", False),
    ("/\t/evil.example", False),
    ("/%09/evil.example", True),   # a harmless local path (%09 stays encoded)
    ("javascript:alert(1)", False),
    ("", False),
])
def test_login_follows_next_only_to_same_site_paths(app, session, target, followed, login_as):
    client = login_as()
    response = client.post("/login", {"username": "wangge01", "password": "demo", "csrf_token": client.csrf()},
                           query_string={"next": target})
    assert response.status_code == 302
    location = response.headers["Location"]
    if followed:
        assert location == target
    else:
        assert location == client.get("/").headers["Location"], "the user's own home instead"
        assert location.startswith("/") and not location.startswith("//")


def test_language_switch_to_english_and_back(app, session, login_as):
    client = login_as("wangge01")
    page = client.get("/cases/")
    assert _html_lang(page.text) == "zh-CN" and ">English</button>" in page.text
    response = client.post("/lang/en", {"next": "/cases/?status=triage"})
    assert response.status_code == 302 and response.headers["Location"] == "/cases/?status=triage"
    page = client.get("/cases/")
    assert _html_lang(page.text) == "en"
    assert ">中文</button>" in page.text
    assert "/lang/zh_Hans_CN" in page.text
    response = client.post("/lang/zh_Hans_CN", {"next": "/cases/"})
    assert response.status_code == 302
    page = client.get("/cases/")
    assert _html_lang(page.text) == "zh-CN" and ">English</button>" in page.text


def test_language_switch_ignores_unknown_languages_and_foreign_next(app, session, login_as):
    client = login_as()
    response = client.post("/lang/fr", {"next": "https://evil.example/"})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert _html_lang(client.get("/login").text) == "zh-CN"
    # The switch works before logging in too.
    client.post("/lang/en", {"next": "/login"})
    assert _html_lang(client.get("/login").text) == "en"


def test_security_headers_on_every_page(app, session, login_as):
    client = login_as("wangge01")
    for url in ("/login", "/cases/", "/intake/new"):
        response = client.get(url)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "HX-Request" in response.headers.get("Vary", "")
        assert "<script>" not in response.text and ' style="' not in response.text
        assert " hx-on" not in response.text
