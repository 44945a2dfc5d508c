"""One-time activation codes: a new account sets its own password with a code the admin hands over.

The code is shown once (to the admin, or on the printable sheet after an import) and stored only as
an HMAC keyed with the app's secret, so a copy of the database does not reveal usable codes. It
works once, within ACTIVATION_HOURS (72 h by default) on the project clock.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from casework.extensions import db
from casework.models import User
from casework.services import audit
from casework.services.errors import Invalid
from casework.timekeeping import now

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed from paper
CODE_LENGTH = 10
DEFAULT_HOURS = 72


def _hours() -> int:
    return int(current_app.config.get("ACTIVATION_HOURS", DEFAULT_HOURS))


def normalise(code: str) -> str:
    return re.sub(r"[\s-]", "", code or "").upper()


def digest(code: str) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, normalise(code).encode(), hashlib.sha256).hexdigest()


def new_code(user: User) -> str:
    """Give the user a fresh code (replacing any earlier one) and return it in clear, once."""
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    user.activation_hash = digest(code)
    user.activation_expires_at = now() + dt.timedelta(hours=_hours())
    return f"{code[:5]}-{code[5:]}"


UNUSABLE_PASSWORD = "!activation-pending"


def issue(actor: User, user: User) -> str:
    """Issue one code from the admin screen; audited as activation.issued.

    The account's password stops working too (this is also how a forgotten password is reset):
    until the code is used, nobody logs in as this account.
    """
    code = new_code(user)
    user.password_hash = UNUSABLE_PASSWORD
    db.session.flush()
    audit.record("activation.issued", actor=actor, obj=f"user:{user.id}",
                 details={"expires": user.activation_expires_at.isoformat()})
    return code


def password_problem(password: str, user: User | None = None):
    """What the password policy (services/passwords.py, configurable) says against this password, or None."""
    from casework.services import passwords
    found = passwords.problems(password, user)
    return " ".join(found) if found else None


def activate(username: str, code: str, password: str, confirm: str, address: str = "") -> User:
    """Set the account's own password with its code; the code stops working at once."""
    errors = {}
    user = db.session.scalars(select(User).where(User.username == (username or "").strip())).first()
    valid = (user is not None and user.active and user.activation_hash is not None
             and hmac.compare_digest(user.activation_hash, digest(code))
             and user.activation_expires_at is not None and user.activation_expires_at > now())
    if not valid:
        # One message for unknown account, wrong, used or expired code: nothing to probe with.
        errors["code"] = _l("账号或激活码不正确，或激活码已过期。请向管理员重新获取。")
    else:
        problem = password_problem(password or "", user)
        if problem:
            errors["password"] = problem
        elif password != confirm:
            errors["confirm"] = _l("两次输入的密码不一致。")
    if errors:
        raise Invalid(_l("未能激活，请检查标出的内容。"), errors)
    user.set_password(password)
    user.activation_hash = None
    user.activation_expires_at = None
    db.session.flush()
    audit.record("activation.used", actor=user, obj=f"user:{user.id}", address=address)
    return user


def record_refusal(address: str = "") -> None:
    """Audit a refused activation (after the caller rolled the attempt back); no account named."""
    audit.record("activation.used", outcome="refused", address=address)
