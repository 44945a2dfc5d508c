"""Casework: grid casework for a Chinese subdistrict (Flask + htmx)."""
from __future__ import annotations

import os
import re

from flask import Flask, has_request_context, render_template, request, session
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from casework.config import ROOT, Config
from casework.extensions import babel, compress, csrf, db, htmx, limiter, login_manager, migrate
from casework.numbers import BoundedMultiDict, Int64Converter


def get_locale() -> str:
    """The user's choice from the language switch, else Chinese."""
    chosen = session.get("lang") if has_request_context() else None
    if chosen in ("zh_Hans_CN", "en"):
        return chosen
    return "zh_Hans_CN"


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """SQLite: enforce foreign keys and use WAL so readers do not block the writer."""
    if dbapi_connection.__class__.__module__.startswith("sqlite3"):
        # Let SQLAlchemy, not pysqlite, decide when transactions begin, so SAVEPOINTs work.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        # The busy timeout (how long a writer waits for the lock before "database is locked") is
        # pysqlite's `timeout`, 5 s by default; SQLALCHEMY_ENGINE_OPTIONS["connect_args"]["timeout"]
        # changes it. Whatever still fails is answered with a readable 503 (database_busy below).
        cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(connection) -> None:
    """SQLite: start the transaction ourselves (pysqlite's implicit BEGIN breaks SAVEPOINT)."""
    if connection.dialect.name == "sqlite":
        # A request that writes takes the write lock up front: two writers then queue (busy_timeout)
        # instead of one failing with "database is locked" when it upgrades a read lock.
        writes = has_request_context() and request.method not in ("GET", "HEAD", "OPTIONS")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


class _Request(Flask.request_class):
    """Query and form fields whose `get(..., type=int)` stays within 64 bits (casework.numbers)."""

    parameter_storage_class = BoundedMultiDict


class _Flask(Flask):
    request_class = _Request


def create_app(config: type | dict | None = None) -> Flask:
    """Build the application: config, extensions, blueprints, CLI and error pages."""
    app = _Flask(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"),
                instance_path=str(ROOT / "instance"))
    app.config.from_object(Config)
    if isinstance(config, dict):
        app.config.update(config)
    elif config is not None:
        app.config.from_object(config)
    os.makedirs(app.instance_path, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        raise RuntimeError(
            "SECRET_KEY is not set. Casework signs session cookies with it; without a secret one anybody "
            "could forge a login. Set it in the environment, e.g.\n"
            "    export SECRET_KEY=\"$(python3 -c 'import secrets; print(secrets.token_hex(32))')\"\n"
            f"or write it to {app.instance_path}/secret_key (`make run` does that once for the demo). "
            "See docs/deploy.md."
        )
    # Ids in URLs are bounded to 64 bits: a bigger number is a 404, not a database error (500).
    app.url_map.converters["int"] = Int64Converter
    if app.config.get("PROXY_COUNT"):
        # Behind nginx: trust its X-Forwarded-For/-Proto so rate limits see residents' addresses
        # and generated links (QR codes) use https.
        from werkzeug.middleware.proxy_fix import ProxyFix
        count = int(app.config["PROXY_COUNT"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)
    # Browsers send back the ETag of a compressed answer as "tag:br" (Flask-Compress marks the
    # encoding on strong ETags); the views compare their own tags, so strip the marks on the way in.
    app.wsgi_app = StripEncodingFromETags(app.wsgi_app)
    from casework import observability
    observability.init_app(app)  # request ids, log format, request metrics

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = "strong"
    csrf.init_app(app)
    babel.init_app(app, locale_selector=get_locale)
    htmx.init_app(app)
    app.config.setdefault("RATELIMIT_ENABLED", True)
    limiter.init_app(app)

    from casework import models  # noqa: F401  (register tables)
    from casework.services import accounts  # noqa: F401  (ends sessions when a user's access changes)
    from casework.services.boards import changes  # noqa: F401  (every case write bumps the boards' change counters)
    from casework.auth.views import bp as auth_bp
    from casework.boards.views import bp as boards_bp
    from casework.cases.views import bp as cases_bp
    from casework.assists.views import bp as assists_bp
    from casework.intake.views import bp as intake_bp
    from casework.public.staff import bp as public_staff_bp
    from casework.public.views import bp as public_bp
    from casework.reports.views import bp as reports_bp
    from casework.timeliness.views import bp as timeliness_bp
    from casework.notices.views import bp as notices_bp
    from casework.admin.views import bp as admin_bp
    from casework.audit.views import bp as audit_bp
    from casework.activation.views import bp as activation_bp
    from casework.api.open311.admin import bp as open311_admin_bp
    from casework.api.open311.views import bp as open311_bp
    from casework.volunteers.public import bp as volunteer_public_bp
    from casework.volunteers.public import verify_bp as volunteer_verify_bp
    from casework.volunteers.staff import bp as volunteers_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(boards_bp)
    app.register_blueprint(cases_bp)
    app.register_blueprint(assists_bp)
    app.register_blueprint(intake_bp)
    app.register_blueprint(public_bp)
    app.register_blueprint(public_staff_bp)
    app.register_blueprint(reports_bp)
    app.register_blueprint(timeliness_bp)
    app.register_blueprint(notices_bp)
    app.register_blueprint(admin_bp)
    from casework.ops.views import bp as ops_bp
    app.register_blueprint(ops_bp)
    app.register_blueprint(audit_bp)
    app.register_blueprint(activation_bp)
    app.register_blueprint(open311_bp)
    app.register_blueprint(open311_admin_bp)
    app.register_blueprint(volunteer_public_bp)
    app.register_blueprint(volunteer_verify_bp)
    app.register_blueprint(volunteers_bp)

    from casework.cli import register_cli
    register_cli(app)
    from casework import ui
    ui.init_app(app)
    _register_error_handlers(app)
    # Registered last, so its after-request function runs first (Flask runs them in reverse); it adds
    # Accept-Encoding to Vary and ui's headers() then adds HX-Request to the same header.
    compress.init_app(app)
    return app


# PostgreSQL SQLSTATEs of a transaction that lost a race and may simply be tried again.
_CONFLICT_STATES = {"40001", "40P01", "55P03"}  # serialization failure, deadlock, lock not available


def database_trouble(exc: OperationalError) -> str | None:
    """'busy' (retry later: 503), 'conflict' (retry now: 409), or None (a real error: 500)."""
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None) or ""
    if state in _CONFLICT_STATES:
        return "conflict"
    message = str(orig or exc).lower()
    if "database is locked" in message or "database is busy" in message or "database table is locked" in message:
        return "busy"
    # The server went away or refuses connections (restart, failover): answer 503 until it is back.
    if exc.connection_invalidated or state.startswith("08") or state in ("57P01", "57P02", "57P03"):
        return "busy"
    if not state and "connection" in message and any(w in message for w in ("refused", "closed", "failed")):
        return "busy"
    return None


class StripEncodingFromETags:
    """WSGI middleware: `If-None-Match: "abc:br"` → `"abc"` (and `:gzip`, `:deflate`, `:zstd`)."""

    _SUFFIX = re.compile(r':(?:br|gzip|deflate|zstd)"')

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        for key in ("HTTP_IF_NONE_MATCH", "HTTP_IF_MATCH"):
            value = environ.get(key)
            if value and ":" in value:
                environ[key] = self._SUFFIX.sub('"', value)
        return self.wsgi_app(environ, start_response)


def _register_error_handlers(app: Flask) -> None:
    """Readable error pages (and fragments for htmx) instead of tracebacks."""

    def render_error(status: int, title: str, message: str):
        template = "_error.html" if htmx else "error.html"
        response = app.make_response((render_template(template, status=status, title=title,
                                                      message=message), status))
        if htmx:
            # htmx 2 does not swap 4xx/5xx by default: put the message in the page's alert area.
            response.headers["HX-Retarget"] = "#alerts"
            response.headers["HX-Reswap"] = "innerHTML"
        return response

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        return render_error(400, _("页面已过期"), _("安全校验失败（页面可能已过期），请刷新页面后重试。"))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        titles = {404: _("找不到页面"), 403: _("无权访问"), 405: _("不支持的操作"),
                  413: _("文件太大"), 429: _("操作太频繁")}
        messages = {404: _("您要找的内容不存在，或不在您的辖区内。"),
                    413: _("上传的文件太大。"), 429: _("请求太频繁，请稍后再试。")}
        return render_error(exc.code or 500, titles.get(exc.code, _("请求有误")),
                            messages.get(exc.code, _("请求无法完成。")))

    @app.errorhandler(OperationalError)
    def database_busy(exc: OperationalError):
        """SQLite "database is locked", PostgreSQL conflicts or an unreachable server: a message, not a 500."""
        db.session.rollback()
        kind = database_trouble(exc)
        if kind is None:
            return server_error(exc)
        app.logger.warning("database %s on %s %s: %s", kind, request.method, request.path,
                           str(getattr(exc, "orig", exc)).splitlines()[0][:200])
        if kind == "conflict":
            return render_error(409, _("操作冲突"), _("有人同时在处理相同的数据，本次操作未保存。请刷新后重试。"))
        response = render_error(503, _("系统繁忙"), _("系统正忙，本次操作未保存。请稍等几秒后重试。"))
        response.headers["Retry-After"] = str(app.config.get("DB_BUSY_RETRY_AFTER", 2))
        return response

    @app.errorhandler(Exception)
    def server_error(exc: Exception):
        app.logger.exception("unhandled error on %s", request.path)
        db.session.rollback()
        return render_error(500, _("系统出错了"), _("系统暂时出了问题，已记录。请稍后再试。"))
