"""Log in, log out, the language switch, and the landing redirect."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from casework.auth.forms import LoginForm
from casework.extensions import db, login_manager
from casework.models import User
from casework.numbers import as_id

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return db.session.get(User, as_id(user_id)) if as_id(user_id) is not None else None


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
    """Each role's own work list: their board, except the admin."""
    if user.role == "admin":
        return url_for("cases.index")
    return url_for("boards.index")


@bp.route("/")
def index():
    """Send each user to their own work list, or to the login page."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return redirect(home_for(current_user))


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the login form; a right username and password opens the user's work list."""
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        user = db.session.scalars(select(User).where(User.username == form.username.data.strip())).first()
        if user is not None and user.active and user.check_password(form.password.data):
            login_user(user)
            return redirect(_safe_next(request.args.get("next")) or home_for(user))
        form.password.errors.append(_("用户名或密码不正确。"))
        status = 422
    elif request.method == "POST":
        status = 422
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Log out and return to the login page."""
    logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/lang/<code>", methods=["POST"])
def set_language(code: str):
    """Switch the UI language (Chinese / English) and stay on the same page."""
    if code in ("zh_Hans_CN", "en"):
        session["lang"] = code
    return redirect(_safe_next(request.form.get("next")) or url_for("auth.index"))
