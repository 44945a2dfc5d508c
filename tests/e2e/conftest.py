"""End-to-end fixtures: the real app served by werkzeug in a thread, on a temp SQLite file with the
demo data, and Debian's Chromium driven by Playwright (never a downloaded browser)."""
from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]


def pytest_collection_modifyitems(config, items):
    """Without Debian's Chromium (or the playwright package) the browser tests are skipped, saying why."""
    reason = None
    if not os.path.exists(CHROMIUM):
        reason = f"browser tests skipped: {CHROMIUM} is not installed (apt-get install chromium fonts-wqy-microhei)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "browser tests skipped: the playwright package is not installed (requirements-dev.txt)"
    if reason:
        here = os.path.dirname(__file__)
        for item in items:
            if str(item.fspath).startswith(here):
                item.add_marker(pytest.mark.skip(reason=reason))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """The app on http://127.0.0.1:<port> over its own SQLite file loaded with the demo data."""
    from werkzeug.serving import make_server

    from casework import create_app
    from casework.config import TestConfig
    from casework.extensions import db
    from casework.services.demo import load_demo

    path = tmp_path_factory.mktemp("e2e") / "casework.db"
    # The URI must be in the config class: Flask-SQLAlchemy builds the engine inside create_app,
    # so changing app.config afterwards would leave the app on an in-memory database.
    config = type("E2EConfig", (TestConfig,), {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "TESTING": False,
        "UPLOAD_FOLDER": str(tmp_path_factory.mktemp("uploads")),
    })
    app = create_app(config)
    with app.app_context():
        assert str(db.engine.url) == f"sqlite:///{path}"
    with app.app_context():
        db.create_all()
        load_demo(cases=360)
        db.session.commit()
    port = _free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.base_url = f"http://127.0.0.1:{port}"
    yield app
    server.shutdown()
    thread.join(timeout=5)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory):
    """shot(page, "board-grid.png"): a screenshot into a temporary folder, so a test run never
    changes tracked files; `make screenshots` sets CASEWORK_SCREENSHOTS=docs/screenshots to refresh
    the README's pictures on purpose."""
    folder = Path(os.environ.get("CASEWORK_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)

    def shot(page, name: str) -> Path:
        path = folder / name
        page.screenshot(path=str(path), full_page=False)
        return path
    return shot


@pytest.fixture(scope="session")
def sign_in():
    """sign_in(page, base_url, "wangge01"): log in through the real form and wait for the board
    (the browser's login_as; HTTP tests use the `login_as` fixture of tests/conftest.py)."""
    def sign_in(page, base_url: str, username: str, password: str = "demo") -> None:
        page.goto(f"{base_url}/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.click("main form button[type=submit]")
        page.wait_for_url(f"{base_url}/board/")
        page.wait_for_selector("#board")
    return sign_in


@pytest.fixture(scope="module")
def browser():
    from playwright import sync_api

    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        b.close()
