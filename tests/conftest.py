"""Fixtures: one demo database per backend (SQLite, and PostgreSQL when TEST_DATABASE_URL is set),
each test inside a transaction that is rolled back, a client with `login_as`, and factories."""
from __future__ import annotations

import datetime as dt
import os
from zoneinfo import ZoneInfo

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy import event, select
from sqlalchemy.orm import scoped_session, sessionmaker

from case_steps import csrf_token
from casework import create_app
from casework.config import TestConfig
from casework.extensions import db, limiter
from casework.models import Building, Case, Category, Organisation, User

# ---- the suite's clock ------------------------------------------------------------------------------
# No test depends on the real date or time of day: the whole run (demo data included) happens at one
# fixed instant, chosen by CASEWORK_TEST_CLOCK. `make test` runs the suite at each of the three.
CN = ZoneInfo("Asia/Shanghai")
CLOCKS = {
    "weekday": dt.datetime(2026, 12, 2, 10, 30, tzinfo=CN),          # a Wednesday, in working hours
    "makeup-saturday": dt.datetime(2026, 10, 10, 10, 30, tzinfo=CN),  # a Saturday that is a 调休 working day
    "holiday": dt.datetime(2026, 10, 1, 10, 30, tzinfo=CN),           # National Day, a public holiday
}
CLOCK_NAME = os.environ.get("CASEWORK_TEST_CLOCK", "weekday")
if CLOCK_NAME not in CLOCKS:
    raise SystemExit(f"CASEWORK_TEST_CLOCK must be one of {', '.join(CLOCKS)}, not {CLOCK_NAME!r}")
SUITE_NOW = CLOCKS[CLOCK_NAME]
_traveller = time_machine.travel(SUITE_NOW, tick=False)


def pytest_configure(config):
    """Freeze the clock before any fixture (the session's demo data included) reads it."""
    _traveller.start()


def pytest_unconfigure(config):
    _traveller.stop()


def pytest_report_header(config):
    return f"suite clock: {CLOCK_NAME} = {SUITE_NOW.isoformat()} (CASEWORK_TEST_CLOCK)"


@pytest.fixture
def real_clock():
    """For a test about the real clock: the suite's frozen instant is lifted while it runs."""
    _traveller.stop()
    yield
    _traveller.start()


BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


def _url(backend: str, tmp_path_factory) -> str:
    if backend == "postgresql":
        return os.environ["TEST_DATABASE_URL"]
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'casework.db'}"


@pytest.fixture(scope="session", params=BACKENDS)
def app(request, tmp_path_factory):
    """An app on a database holding the demo data (loaded once per backend)."""
    url = _url(request.param, tmp_path_factory)
    uploads = tmp_path_factory.mktemp("uploads")
    # Flask-SQLAlchemy builds the engine inside create_app, so the URI goes in the config class.
    config = type("BackendTestConfig", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": url,
                                                       "UPLOAD_FOLDER": str(uploads)})
    application = create_app(config)
    application.test_client_class = FreshContextClient
    with application.app_context():
        db.drop_all()
        from casework.models import Counter  # noqa: F401
        db.session.execute(db.text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        db.create_all()
        from casework.services.demo import load_demo
        load_demo(cases=360)
        db.session.commit()
    application.backend = request.param
    yield application
    with application.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


class _TestScopedSession(scoped_session):
    """A scoped session that outlives each request's teardown, so the test keeps its objects."""

    def remove(self) -> None:
        # Flask-SQLAlchemy removes the session when an app context ends; within a test the session
        # lives on (like the database it stands for); expiring makes the next request reload rows.
        self.registry().expire_all()

    def really_remove(self) -> None:
        super().remove()


@pytest.fixture(autouse=False)
def session(app):
    """Run the test inside an outer transaction that is rolled back afterwards.

    Commits made by the code under test become SAVEPOINT releases, so every test starts from the
    same demo data without reloading it.
    """
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        original = db.session
        # A plain session bound to the connection (Flask-SQLAlchemy's own would pick the engine).
        scoped = _TestScopedSession(sessionmaker(bind=connection, join_transaction_mode="create_savepoint"))
        db.session = scoped
        try:
            yield scoped
        finally:
            scoped.really_remove()
            db.session = original
            if outer.is_active:
                outer.rollback()
            connection.close()


class FreshContextClient(FlaskClient):
    """Each request runs in its own app context, as in production.

    The `session` fixture keeps an app context open for the whole test, and Flask would reuse it
    for every request, sharing `g` (Flask-Login's cached user, the locale, caches) between requests
    and users.
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


class Client:
    """A test client that logs in through the real form and carries the CSRF token."""

    def __init__(self, app):
        self.app = app
        self.http = app.test_client()
        self.token = None

    def csrf(self) -> str:
        if self.token is None:
            page = self.http.get("/login")
            self.token = csrf_token(page.text)
        return self.token

    def login_as(self, username: str, password: str = "demo"):
        response = self.http.post("/login", data={"username": username, "password": password,
                                                  "csrf_token": self.csrf()})
        assert response.status_code == 302, f"login as {username} failed"
        return response

    def get(self, url, **kw):
        return self.http.get(url, **kw)

    def post(self, url, data=None, htmx: bool = False, csrf: bool = True, **kw):
        data = dict(data or {})
        headers = dict(kw.pop("headers", {}) or {})
        if csrf:
            headers.setdefault("X-CSRFToken", self.csrf())
        if htmx:
            headers["HX-Request"] = "true"
        return self.http.post(url, data=data, headers=headers, **kw)


@pytest.fixture
def client(app, session):
    return Client(app)


@pytest.fixture
def login_as(app, session):
    """login_as("wangge01") → a Client logged in as that demo user; login_as() → nobody logged in.

    The one way tests get a client for a person (tests/e2e/conftest.py has the browser's own).
    """
    def make(username: str | None = None) -> Client:
        c = Client(app)  # each request runs in its own app context (FreshContextClient)
        if username:
            c.login_as(username)
        return c
    return make


def user(username: str) -> User:
    return db.session.scalars(select(User).where(User.username == username)).one()


def org(name_part: str) -> Organisation:
    return db.session.scalars(select(Organisation).where(Organisation.name.contains(name_part))).one()


@pytest.fixture
def make_case(session):
    """Factory: a new case in `reported` in a building of the given user's jurisdiction (default wangge01)."""
    from casework.services import intake

    def make(building: Building | None = None, *, title: str = "楼道灯不亮", category: str = "facilities",
             priority: str | None = None, by: str = "wangge01", phone: str = "13812341234") -> Case:
        actor = user(by)
        if building is None:
            building = actor.grids[0].buildings[0] if actor.grids else actor.buildings[0]
        cat = db.session.scalars(select(Category).where(Category.code == category)).one()
        case = intake.create_case(actor, title=title, description="测试描述", category_id=cat.id,
                                  building_id=building.id, unit="1单元101", priority=priority,
                                  channel="phone", reporter_name="王女士", reporter_phone=phone)
        db.session.commit()
        return case
    return make


@pytest.fixture
def query_counter(app):
    """Count SQL statements run inside the `with` block."""
    class Counter:
        def __init__(self):
            self.count = 0
            self.statements: list[str] = []  # what was run, for a failing count's message

        def __enter__(self):
            self.count = 0
            self.statements = []
            event.listen(db.engine, "before_cursor_execute", self._hit)
            return self

        def __exit__(self, *exc):
            event.remove(db.engine, "before_cursor_execute", self._hit)

        def _hit(self, conn, cursor, statement, *args, **kw):
            self.count += 1
            self.statements.append(" ".join(statement.split())[:160])
    return Counter()


# Rate limits lowered for a test, on memory storage and on Redis (tests/test_public.py, test_resident_photos.py).

def _lowered_limit(request, app, setting: str | None = None, value: str | None = None, **settings: str):
    """Set limits (one `setting` = `value`, or several as keywords) on memory storage or (when
    TEST_REDIS_URL is set) Redis; everything is put back afterwards."""
    redis_url = os.environ.get("TEST_REDIS_URL")
    if request.param == "redis" and not redis_url:
        pytest.skip("TEST_REDIS_URL not set")
    if setting is not None:
        settings[setting] = value
    saved = {k: app.config[k] for k in (*settings, "RATELIMIT_STORAGE_URI")}
    app.config.update(settings)
    if request.param == "redis":
        app.config["RATELIMIT_STORAGE_URI"] = redis_url
        limiter.init_app(app)
    limiter.reset()
    yield request.param
    limiter.reset()
    app.config.update(saved)
    limiter.init_app(app)  # back to the app's own storage (a test may have bound another app)


@pytest.fixture(params=["memory", "redis"])
def two_reports_a_minute(request, app):
    """The report limit lowered to 2 per minute."""
    yield from _lowered_limit(request, app, "RATELIMIT_REPORT", "2 per minute")


@pytest.fixture(params=["memory", "redis"])
def three_lookups_a_minute(request, app):
    """The tracking-code limit lowered to 3 per minute."""
    yield from _lowered_limit(request, app, "RATELIMIT_TRACK", "3 per minute")
