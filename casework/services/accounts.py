"""Accounts and sessions: who may try to log in, ending sessions, timeouts, password changes.

- A session carries the user's `session_token` (User.get_id). A new token ends every session the
  user has, at once: on logout, a password change, deactivation and any change of role or
  jurisdiction. The last is automatic (a flush listener below), so admin screens, imports and the
  CLI need not remember it.
- Login throttling counts failures only, per account (the typed name, known or not) and per
  address, in Flask-Limiter's storage (memory, or Redis when RATELIMIT_STORAGE_URI says so): after
  LOGIN_LOCK_ACCOUNT (default 5 per 15 minutes) the account is locked until its window ends.
- An unknown user costs the same password hash as a wrong password (a dummy hash is checked), and
  both get the same words.

Services never read the request: the view passes the typed name and the address in.
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from flask import current_app
from limits import parse_many
from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from casework.extensions import db, limiter
from casework.models import User
from casework.services import audit, passwords

# What a session's identity depends on: changing any of these ends the user's sessions.
SESSION_BOUND = ("role", "active", "community_id", "organisation_id", "password_hash", "grids", "buildings")
_DUMMY_HASH: str | None = None


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def timestamp() -> float:
    return dt.datetime.now(dt.UTC).timestamp()


def end_sessions(user: User) -> None:
    """End every session the user has (they are refused at their next request)."""
    user.session_token = secrets.token_hex(16)


@event.listens_for(Session, "before_flush")
def _end_sessions_on_change(session: Session, _context, _instances) -> None:
    """A change of role, jurisdiction, active flag or password ends the user's sessions."""
    for obj in session.dirty:
        if not isinstance(obj, User):
            continue
        state = inspect(obj)
        if state.attrs.session_token.history.has_changes():
            continue
        if any(state.attrs[name].history.has_changes() for name in SESSION_BOUND):
            end_sessions(obj)


# ---- sessions: idle and absolute timeouts ---------------------------------------------------------

def idle_seconds() -> int:
    return int(current_app.config.get("SESSION_IDLE_MINUTES", 30)) * 60


def absolute_seconds() -> int:
    return int(current_app.config.get("SESSION_ABSOLUTE_HOURS", 12)) * 3600


def session_expired(stamps: dict, at: float | None = None) -> bool:
    """Whether a session with these stamps (login_at, seen_at: epoch seconds) has timed out."""
    at = timestamp() if at is None else at
    login_at, seen_at = stamps.get("login_at"), stamps.get("seen_at")
    if not isinstance(login_at, (int, float)) or not isinstance(seen_at, (int, float)):
        return True
    return at - login_at > absolute_seconds() or at - seen_at > idle_seconds()


# ---- login ----------------------------------------------------------------------------------------

@dataclass
class LoginResult:
    user: User | None
    ok: bool = False
    locked: bool = False        # refused before checking: too many failures
    locked_now: bool = False    # this failure locked the account or address


def _limits(setting: str, default: str):
    return parse_many(current_app.config.get(setting) or default)


def _account_key(username: str) -> str:
    return (username or "").strip().lower()[:80]


def _strategy():
    """The rate limiter's strategy, or None when rate limiting is turned off (RATELIMIT_ENABLED=False:
    then logins are not locked either, instead of failing)."""
    return limiter.limiter if limiter.enabled else None


def _is_locked(username: str, address: str) -> bool:
    strategy = _strategy()
    if strategy is None:
        return False
    return (any(not strategy.test(item, "login-account", _account_key(username))
                for item in _limits("LOGIN_LOCK_ACCOUNT", "5 per 15 minutes"))
            or any(not strategy.test(item, "login-address", address or "-")
                   for item in _limits("LOGIN_LOCK_ADDRESS", "20 per 15 minutes")))


def lock_minutes() -> int:
    """The longest lock window, in minutes (said in the refusal)."""
    items = _limits("LOGIN_LOCK_ACCOUNT", "5 per 15 minutes")
    return max(1, max(item.get_expiry() for item in items) // 60)


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(16))
    return _DUMMY_HASH


def attempt_login(username: str, password: str, address: str = "") -> LoginResult:
    """Check a login attempt (and audit it); the caller logs the user in when `ok`, then commits."""
    name = (username or "").strip()
    user = db.session.scalars(select(User).where(User.username == name)).first() if name else None
    obj = user.username if user is not None else "unknown"
    if _is_locked(name, address):
        check_password_hash(_dummy_hash(), password or "")  # same cost as any other answer
        audit.record("login.refused", actor=user, obj=obj, outcome="locked", address=address)
        return LoginResult(user, locked=True)
    # Unknown users cost a hash check too, so the answer's timing does not tell them apart.
    good = check_password_hash(user.password_hash if user is not None else _dummy_hash(), password or "")
    strategy = _strategy()
    if good and user is not None and user.active:
        for item in _limits("LOGIN_LOCK_ACCOUNT", "5 per 15 minutes") if strategy else ():
            strategy.clear(item, "login-account", _account_key(name))
        audit.record("login.ok", actor=user, obj=obj, address=address)
        return LoginResult(user, ok=True)
    if strategy is not None:
        for item in _limits("LOGIN_LOCK_ACCOUNT", "5 per 15 minutes"):
            strategy.hit(item, "login-account", _account_key(name))
        for item in _limits("LOGIN_LOCK_ADDRESS", "20 per 15 minutes"):
            strategy.hit(item, "login-address", address or "-")
    reason = "unknown" if user is None else ("inactive" if not user.active else "password")
    audit.record("login.failed", actor=user, obj=obj, outcome="refused", address=address,
                 details={"reason": reason})
    locked_now = _is_locked(name, address)
    if locked_now:
        audit.record("login.locked", actor=user, obj=obj, outcome="locked", address=address,
                     details={"minutes": lock_minutes()})
    return LoginResult(user, locked_now=locked_now)


def logged_out(user: User, address: str = "") -> None:
    """Logout ends the user's sessions everywhere, and is audited."""
    end_sessions(user)
    audit.record("logout", actor=user, obj=user.username, address=address)


def change_password(user: User, current: str, new: str, confirm: str, address: str = "") -> dict[str, list[str]]:
    """Change the user's own password; returns errors per field (empty: changed, sessions ended)."""
    errors: dict[str, list[str]] = {}
    from flask_babel import gettext as _
    if not check_password_hash(user.password_hash, current or ""):
        errors["current"] = [_("当前密码不正确。")]
    found = passwords.problems(new, user)
    if not found and new == current:
        found = [_("新密码不能与当前密码相同。")]
    if found:
        errors["new"] = found
    elif new != confirm:
        errors["confirm"] = [_("两次输入的新密码不一致。")]
    if errors:
        audit.record("password.change", actor=user, obj=user.username, outcome="refused", address=address,
                     details={"fields": sorted(errors)})
        return errors
    user.set_password(new)  # the flush listener ends every session of the user
    audit.record("password.change", actor=user, obj=user.username, address=address)
    return {}
