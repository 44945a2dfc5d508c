"""Log in, log out, password change, the language switch, and the landing redirect.

Sessions (services/accounts.py): the session holds the user's id and session token plus two
stamps (login time, last activity); the loader refuses a session whose token was replaced or whose
idle or absolute time ran out. A request without a valid session goes to the login page; an htmx
request gets `HX-Redirect` so the browser loads the login page as a whole page, never a fragment
swapped into a board column.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, g, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy.orm import joinedload

from casework import access
from casework.auth.forms import LoginForm, PasswordForm
from casework.extensions import db, htmx, login_manager
from casework.models import User
from casework.numbers import as_id
from casework.services import accounts, passwords
from casework.ui import render_page

bp = Blueprint("auth", __name__)

# Requests a page makes by itself (the board's poll, by the id of the polling element): they do not
# count as the user's activity, so a board left open still times out when nobody uses it.
POLLING_TRIGGERS = frozenset({"board"})


def client_address() -> str:
    return request.remote_addr or ""


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The session's user, if its token is current, the account active and the session not timed out."""
    raw_id, _sep, token = (user_id or "").partition(":")
    # The grids and buildings come in the same statement: a board's poll then needs no other query to
    # know the viewer's jurisdiction (ui.jurisdiction), only the change counters (boards/changes.py).
    user = (db.session.get(User, as_id(raw_id), options=[joinedload(User.grids), joinedload(User.buildings)])
            if as_id(raw_id) is not None else None)
    if user is None or not token or token != user.session_token or not user.active:
        g.session_ended = True
        return None
    stamps = {"login_at": session.get("_login_at"), "seen_at": session.get("_seen_at")}
    at = accounts.timestamp()
    if accounts.session_expired(stamps, at):
        g.session_ended = True
        return None
    if not (request.method == "GET" and request.headers.get("HX-Trigger") in POLLING_TRIGGERS):
        session["_seen_at"] = at
    return user


def _start_session(user: User) -> None:
    login_user(user)
    session["_login_at"] = session["_seen_at"] = accounts.timestamp()


@login_manager.unauthorized_handler
def unauthorized():
    """No valid session: the login page; htmx gets HX-Redirect (a whole page, not a fragment)."""
    ended = {"ended": 1} if g.get("session_ended") else {}
    if htmx:
        current = request.headers.get("HX-Current-URL", "")
        parts = urlsplit(current)
        back = _safe_next(parts.path + (f"?{parts.query}" if parts.query else "")) if current else None
        response = make_response("", 401)
        response.headers["HX-Redirect"] = url_for("auth.login", next=back, **ended)
        return response
    nxt = request.full_path if request.query_string else request.path
    return redirect(url_for("auth.login", next=_safe_next(nxt), **ended))


@bp.before_app_request
def _enforce_account_rules():
    """The auditor opens the audit pages only; an expired password must be changed first."""
    if not current_user.is_authenticated:
        return None
    if not access.may_open_endpoint(current_user, request.endpoint):
        abort(403)
    if passwords.expired(current_user) and request.endpoint not in ("auth.password", "auth.logout", "static"):
        target = url_for("auth.password", expired=1)
        if htmx:
            response = make_response("", 204)
            response.headers["HX-Redirect"] = target
            return response
        return redirect(target)
    return None


def _safe_next(target: str | None) -> str | None:
    """Only same-site relative paths are followed after login."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    # Browsers read "/\evil" as "//evil" and drop tabs and newlines: refuse both outright.
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return None
    if urlsplit(target).netloc:
        return None
    return target


def home_for(user: User) -> str:
    """Each role's own start page: their board; the admin's configuration; the auditor's log."""
    if user.role == "admin":
        return url_for("admin.limits")
    if user.role == "auditor":
        return url_for("audit.index")
    return url_for("boards.index")


@bp.route("/")
def index():
    """Send each user to their own work list, or to the login page."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return redirect(home_for(current_user))


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the login form; a right username and password opens the user's work list.

    Unknown users, wrong passwords and inactive accounts get the same words after the same work;
    too many failures lock the typed account (and, more slowly, the address) for a while.
    """
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        result = accounts.attempt_login(form.username.data, form.password.data, client_address())
        if result.ok:
            _start_session(result.user)
            db.session.commit()
            return redirect(_safe_next(request.args.get("next")) or home_for(result.user))
        db.session.commit()  # the audit rows of the failure
        if result.locked or result.locked_now:
            form.password.errors.append(_("登录失败次数过多，请 %(n)d 分钟后再试。", n=accounts.lock_minutes()))
            status = 429
        else:
            form.password.errors.append(_("用户名或密码不正确。"))
            status = 422
    elif request.method == "POST":
        status = 422
    ended = request.method == "GET" and request.args.get("ended") == "1"
    return render_template("auth/login.html", form=form, ended=ended), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Log out (every session of this user ends) and return to the login page."""
    user = db.session.get(User, current_user.id)
    accounts.logged_out(user, client_address())
    db.session.commit()
    logout_user()
    session.pop("_login_at", None)
    session.pop("_seen_at", None)
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password():
    """Change one's own password; every other session of the user ends, this one continues."""
    form = PasswordForm()
    status = 200
    if form.validate_on_submit():
        user = db.session.get(User, current_user.id)
        errors = accounts.change_password(user, form.current.data, form.new.data, form.confirm.data,
                                          client_address())
        if not errors:
            db.session.commit()
            _start_session(user)  # the session carries the new token
            return redirect(url_for("auth.password", changed=1), 303)
        db.session.commit()  # the refused attempt stays in the audit
        for name, messages in errors.items():
            getattr(form, name).errors = list(getattr(form, name).errors) + messages
        status = 422
    elif request.method == "POST":
        status = 422
    return render_page("auth/password.html", form=form, policy=passwords.describe(),
                           changed=request.args.get("changed") == "1",
                           expired=request.args.get("expired") == "1"), status


@bp.route("/lang/<code>", methods=["POST"])
def set_language(code: str):
    """Switch the UI language (Chinese / English) and stay on the same page."""
    if code in ("zh_Hans_CN", "en"):
        session["lang"] = code
    return redirect(_safe_next(request.form.get("next")) or url_for("auth.index"))
