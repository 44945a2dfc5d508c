"""API keys for client systems: issue (shown once), revoke, check, and the public-reads switch.

A key reads `cw311_<prefix>_<secret>`. Only the prefix (to find the row and to name the key in
lists, logs and the audit) and a SHA-256 of the whole key are stored: the secret has 190 random
bits, so a fast hash is enough and a stolen table gives nobody a working key.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from casework.extensions import db
from casework.models import ApiKey, Community, NoticeChannel, Setting, User
from casework.services import audit
from casework.services.errors import Invalid, NotFound
from casework.timekeeping import now

log = logging.getLogger(__name__)

KEY_LEAD = "cw311"
PUBLIC_READS = "open311.public_reads"
# A key's last-used time is written at most this often (a busy client would otherwise write on every read).
LAST_USED_GRAIN = dt.timedelta(minutes=1)


class KeyRefused(Exception):
    """The key is missing, unknown, revoked, expired or not allowed to do this: a 403 in the API."""

    def __init__(self, reason: str, description: str, key: ApiKey | None = None, prefix: str = ""):
        super().__init__(description)
        self.reason = reason
        self.description = description
        self.key = key
        self.prefix = prefix


@dataclass
class Issued:
    key: ApiKey
    plaintext: str  # shown once, never stored


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _prefix_of(raw: str) -> str:
    parts = (raw or "").split("_", 2)
    return parts[1] if len(parts) == 3 and parts[0] == KEY_LEAD else ""


def issue_key(actor: User | None, *, name: str, community_ids: list[int], all_communities: bool,
              can_write: bool, expires_at: dt.datetime | None, address: str = "") -> Issued:
    """A new key for one client system; the plaintext is returned once and only its hash is kept."""
    errors = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = _l("请填写对接系统的名称。")
    elif len(name) > 80:
        errors["name"] = _l("名称不能超过 80 字。")
    communities = list(db.session.scalars(select(Community).where(Community.id.in_(community_ids or []))))
    if not all_communities and not communities:
        errors["communities"] = _l("请选择该密钥可以访问的社区。")
    if expires_at is not None and expires_at <= now():
        errors["expires_at"] = _l("到期日期必须晚于今天。")
    if errors:
        raise Invalid(_l("请检查填写的内容。"), errors)
    prefix = secrets.token_hex(4)
    while db.session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix)):
        prefix = secrets.token_hex(4)
    plaintext = f"{KEY_LEAD}_{prefix}_{secrets.token_urlsafe(24)}"
    key = ApiKey(name=name, prefix=prefix, key_hash=_digest(plaintext), can_write=can_write,
                 all_communities=all_communities, communities=[] if all_communities else communities,
                 created_at=now(), created_by=actor, expires_at=expires_at)
    db.session.add(key)
    db.session.flush()
    audit.record("apikey.issued", actor=actor, obj=f"api_key:{prefix}", address=address,
                 details={"name": name, "write": can_write, "all": all_communities,
                          "communities": sorted(c.id for c in communities) if not all_communities else [],
                          "expires": expires_at.isoformat() if expires_at else None})
    log.info("api key %s issued for %s by %s", prefix, name, actor.username if actor else "cli")
    return Issued(key, plaintext)


def revoke_key(actor: User | None, key_id: int | None = None, *, prefix: str = "", address: str = "") -> ApiKey:
    """Revoke a key at once: its next use is refused (and audited)."""
    query = select(ApiKey).where(ApiKey.id == key_id) if key_id else select(ApiKey).where(ApiKey.prefix == prefix)
    key = db.session.scalars(query).first()
    if key is None:
        raise NotFound(_l("没有找到这个密钥。"))
    if key.revoked_at is None:
        key.revoked_at = now()
        audit.record("apikey.revoked", actor=actor, obj=f"api_key:{key.prefix}", address=address,
                     details={"name": key.name})
        log.info("api key %s revoked by %s", key.prefix, actor.username if actor else "cli")
    return key


def list_keys() -> list[ApiKey]:
    """Every key, newest first, with its communities (for the admin page)."""
    return list(db.session.scalars(select(ApiKey).options(selectinload(ApiKey.communities),
                                                          selectinload(ApiKey.webhook_channel))
                                   .order_by(ApiKey.id.desc())))


def authenticate(raw: str | None, *, at: dt.datetime | None = None) -> ApiKey:
    """The live key for this plaintext, or KeyRefused saying why (missing, wrong, revoked, expired)."""
    if not raw:
        raise KeyRefused("missing", "api_key was not provided")
    prefix = _prefix_of(raw)
    key = db.session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first() if prefix else None
    if key is None or not hmac.compare_digest(key.key_hash, _digest(raw)):
        raise KeyRefused("invalid", "api_key is invalid", prefix=prefix)
    at = at or now()
    if key.revoked_at is not None:
        raise KeyRefused("revoked", "api_key has been revoked", key)
    if key.expires_at is not None and key.expires_at <= at:
        raise KeyRefused("expired", "api_key has expired", key)
    if key.last_used_at is None or at - key.last_used_at >= LAST_USED_GRAIN:
        key.last_used_at = at
    return key


def community_ids(key: ApiKey | None) -> set[int] | None:
    """The communities a key reaches; None means all of them (an all-communities key, or a public read).

    Keys keep this rule of their own rather than an `access.Jurisdiction`: a key is not a user and has no
    role, and every `access.may_*` reads the role, so a key dressed as a supervisor could be handed a
    supervisor's powers by the next check that takes a Jurisdiction. What a key sees is exactly this set:
    `open311._row_query` filters `Case.community_id` by it (the same cases as a community supervisor's
    `Jurisdiction.clause()` for those communities), and a POST's building must lie in it.
    """
    if key is None or key.all_communities:
        return None
    return {c.id for c in key.communities}


def refused(exc: KeyRefused, *, address: str = "", path: str = "") -> None:
    """Put a refused key in the audit (the caller commits, since the request itself fails)."""
    prefix = exc.key.prefix if exc.key is not None else exc.prefix
    audit.record("apikey.refused", obj=f"api_key:{prefix}" if prefix else "api_key:-", outcome="refused",
                 address=address, details={"reason": exc.reason, "path": path[:80]})


def public_reads() -> bool:
    """Whether GeoReport reads are allowed without a key (the admin's switch; off by default)."""
    row = db.session.get(Setting, PUBLIC_READS)
    return row is not None and row.value == "1"


WEBHOOK_URL_MAX = 500


def set_webhook(actor: User | None, key_id: int, *, url: str, secret: str = "", address: str = "") -> str | None:
    """Register (or change, or with an empty URL remove) the key's status webhook: a signed generic
    webhook channel of its own, through which each status change of the cases the key created is
    pushed (services/notices/updates). Returns a generated secret to show once, else None.

    A secret left blank keeps the saved one, or is generated for a new webhook.
    """
    key = db.session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(_l("没有找到这个密钥。"))
    url, secret = (url or "").strip(), (secret or "").strip()
    channel = key.webhook_channel
    if not url:
        if channel is not None:
            channel.active = False
            key.webhook_channel = None
            audit.record("apikey.webhook", actor=actor, obj=f"api_key:{key.prefix}", address=address,
                         details={"removed": True})
        return None
    errors = {}
    if not url.startswith(("http://", "https://")) or len(url) > WEBHOOK_URL_MAX or any(c.isspace() for c in url):
        errors["webhook_url"] = _l("请填写以 http:// 或 https:// 开头的地址（不超过 500 字符）。")
    if secret and not 16 <= len(secret) <= 200:
        errors["webhook_secret"] = _l("签名密钥需 16 到 200 个字符；留空则自动生成。")
    if errors:
        raise Invalid(_l("请检查填写的内容。"), errors)
    generated, typed = None, bool(secret)
    if not secret:
        secret = (channel.config or {}).get("secret", "") if channel is not None else ""
        if not secret:
            secret = generated = secrets.token_urlsafe(24)
    if channel is None:
        channel = NoticeChannel(kind="webhook", rate_per_minute=600, max_attempts=8, created_at=now())
        db.session.add(channel)
        key.webhook_channel = channel
    channel.name = str(_l("Open311 回调 · %(name)s", name=key.name))[:80]
    channel.config = {"url": url, "secret": secret}
    channel.active = True
    db.session.flush()
    audit.record("apikey.webhook", actor=actor, obj=f"api_key:{key.prefix}", address=address,
                 details={"url": url.split("?", 1)[0][:120], "new_secret": typed or generated is not None})
    log.info("api key %s webhook set by %s", key.prefix, actor.username if actor else "cli")
    return generated


def set_public_reads(actor: User | None, enabled: bool, address: str = "") -> None:
    """Turn key-less reads on or off, audited."""
    row = db.session.get(Setting, PUBLIC_READS)
    if row is None:
        row = Setting(key=PUBLIC_READS, value="0")
        db.session.add(row)
    value = "1" if enabled else "0"
    if row.value != value:
        row.value = value
        audit.record("apikey.public_reads", actor=actor, obj="open311", address=address,
                     details={"enabled": enabled})
    db.session.flush()
