"""The password policy, in one place: what a new password must be, and when it must be changed.

`problems(password, user=None)` returns the reasons a password is refused (empty when it is fine);
the password-change page, the CLI and the activation page all ask it. Settings (config.py, env):

- PASSWORD_MIN_LENGTH (default 10): length beats complexity against guessing;
- PASSWORD_MIN_CLASSES (default 3): how many of lower case, upper case, digits and other characters;
- PASSWORD_MAX_AGE_DAYS (default 0 = never): a periodic change, for assessors who require one.
docs/deploy.md says why these defaults.
"""
from __future__ import annotations

import datetime as dt

from flask import current_app
from flask_babel import lazy_gettext as _l

MAX_LENGTH = 200
# A few passwords every guessing list starts with (checked case-insensitively, as a whole).
COMMON = frozenset({
    "password", "password1", "password123", "passw0rd", "12345678", "123456789", "1234567890",
    "qwerty123", "qwertyuiop", "1q2w3e4r", "1qaz2wsx", "abc12345", "admin123", "admin@123",
    "a1234567", "aa123456", "woaini1314", "iloveyou", "p@ssw0rd", "demo", "changeme",
})


def _setting(name: str, default: int) -> int:
    try:
        return int(current_app.config.get(name, default))
    except (TypeError, ValueError, RuntimeError):
        return default


def min_length() -> int:
    return max(1, _setting("PASSWORD_MIN_LENGTH", 10))


def min_classes() -> int:
    return min(4, max(1, _setting("PASSWORD_MIN_CLASSES", 3)))


def max_age_days() -> int:
    return max(0, _setting("PASSWORD_MAX_AGE_DAYS", 0))


def classes(password: str) -> int:
    """How many kinds of character the password mixes: lower, upper, digits, others."""
    kinds = (any(c.islower() for c in password), any(c.isupper() for c in password),
             any(c.isdigit() for c in password), any(not c.isalnum() for c in password))
    return sum(kinds)


def problems(password: str | None, user=None) -> list[str]:
    """Every reason this password is refused, as sentences for the page (empty list: accepted)."""
    password = password or ""
    found: list[str] = []
    if len(password) < min_length():
        found.append(str(_l("密码至少需要 %(n)d 个字符。", n=min_length())))
    if len(password) > MAX_LENGTH:
        found.append(str(_l("密码不能超过 %(n)d 个字符。", n=MAX_LENGTH)))
    if classes(password) < min_classes():
        found.append(str(_l("密码需包含小写字母、大写字母、数字、其他符号中的至少 %(n)d 类。", n=min_classes())))
    if password.lower() in COMMON:
        found.append(str(_l("这个密码太常见，请换一个。")))
    if user is not None and user.username and user.username.lower() in password.lower():
        found.append(str(_l("密码不能包含用户名。")))
    return found


def expired(user, at: dt.datetime | None = None) -> bool:
    """Whether the periodic change is due (never, when PASSWORD_MAX_AGE_DAYS is 0)."""
    days = max_age_days()
    if not days:
        return False
    if user.password_changed_at is None:
        return True
    at = at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return at - user.password_changed_at > dt.timedelta(days=days)


def describe() -> str:
    """The policy in one sentence (shown above the password fields)."""
    return str(_l("至少 %(n)d 个字符，包含小写字母、大写字母、数字、其他符号中的至少 %(k)d 类。",
                  n=min_length(), k=min_classes()))
