"""Casework: grid casework for a Chinese subdistrict (Flask + htmx)."""
from __future__ import annotations

import logging
import os

from flask import Flask, has_request_context, render_template, request, session
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.exceptions import HTTPException

from casework.config import ROOT, Config
from casework.extensions import babel, csrf, db, htmx, limiter, login_manager, migrate


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
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(connection) -> None:
    """SQLite: start the transaction ourselves (pysqlite's implicit BEGIN breaks SAVEPOINT)."""
    if connection.dialect.name == "sqlite":
        # A request that writes takes the write lock up front: two writers then queue (busy_timeout)
        # instead of one failing with "database is locked" when it upgrades a read lock.
        writes = has_request_context() and request.method not in ("GET", "HEAD", "OPTIONS")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def create_app(config: type | dict | None = None) -> Flask:
    """Build the application: config, extensions, blueprints, CLI and error pages."""
    app = Flask(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"),
                instance_path=str(ROOT / "instance"))
    app.config.from_object(Config)
    if isinstance(config, dict):
        app.config.update(config)
    elif config is not None:
        app.config.from_object(config)
    os.makedirs(app.instance_path, exist_ok=True)
    if app.config.get("PROXY_COUNT"):
        # Behind nginx: trust its X-Forwarded-For/-Proto so rate limits see residents' addresses
        # and generated links (QR codes) use https.
        from werkzeug.middleware.proxy_fix import ProxyFix
        count = int(app.config["PROXY_COUNT"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)
    logging.basicConfig(level=logging.INFO)

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
    from casework.auth.views import bp as auth_bp
    from casework.boards.views import bp as boards_bp
    from casework.cases.views import bp as cases_bp
    from casework.intake.views import bp as intake_bp
    from casework.public.staff import bp as public_staff_bp
    from casework.public.views import bp as public_bp
    from casework.reports.views import bp as reports_bp
    from casework.timeliness.views import bp as timeliness_bp
    from casework.notices.views import bp as notices_bp
    from casework.admin.views import bp as admin_bp
    from casework.volunteers.public import bp as volunteer_public_bp
    from casework.volunteers.public import verify_bp as volunteer_verify_bp
    from casework.volunteers.staff import bp as volunteers_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(boards_bp)
    app.register_blueprint(cases_bp)
    app.register_blueprint(intake_bp)
    app.register_blueprint(public_bp)
    app.register_blueprint(public_staff_bp)
    app.register_blueprint(reports_bp)
    app.register_blueprint(timeliness_bp)
    app.register_blueprint(notices_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(volunteer_public_bp)
    app.register_blueprint(volunteer_verify_bp)
    app.register_blueprint(volunteers_bp)

    from casework.cli import register_cli
    register_cli(app)
    from casework import ui
    ui.init_app(app)
    _register_error_handlers(app)
    return app


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

    @app.errorhandler(Exception)
    def server_error(exc: Exception):
        app.logger.exception("unhandled error on %s", request.path)
        db.session.rollback()
        return render_error(500, _("系统出错了"), _("系统暂时出了问题，已记录。请稍后再试。"))
