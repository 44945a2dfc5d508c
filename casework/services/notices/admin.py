"""Configuring channels (secrets kept as entered, shown masked, never sent back to a browser once
saved), the outbox as the admin sees it (status per message, dead letters, depth and oldest age),
and each user's own addresses, quiet hours and language."""
from __future__ import annotations

import datetime as dt
import logging
import re
import secrets as token
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from casework.extensions import db
from casework.models import (
    Community, Grid, Subdistrict, NoticeChannel, NoticePreference, NoticeSubscription, Organisation, OutboxMessage, User,
)
from casework.models.cases import mask_phone
from casework.models.notices import CHANNEL_KINDS, PERSONAL_KINDS
from casework.services.errors import Invalid, NotFound
from casework.services.notices.channels import REGISTRY
from casework.services.notices.content import render_plain
from casework.services.notices.outbox import enqueue, retry
from casework.timekeeping import now

log = logging.getLogger(__name__)
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
STATUS_LABELS = {
    "pending": _l("待发送"), "retrying": _l("重试中"), "delivered": _l("已送达"), "dead": _l("失败"),
    "held": _l("夜间暂存"), "digested": _l("已并入汇总"),
}
LANGUAGES = {"zh_Hans_CN": "中文", "en": "English"}


def mask(value: str) -> str:
    """What a screen shows of a saved secret: that there is one, and its last four characters."""
    if not value:
        return ""
    return "••••" + (value[-4:] if len(value) >= 12 else "")


def mask_address(address: str) -> str:
    """A person's address on admin screens: 139****2222, w***@example.cn."""
    if "@" in address:
        name, _at, domain = address.partition("@")
        return f"{name[:1]}***@{domain}"
    return mask_phone(address)


def status_of(message: OutboxMessage) -> str:
    if message.status == "pending" and message.attempts:
        return "retrying"
    return message.status


# ---- channels ---------------------------------------------------------------------------------------------

def channels() -> list[NoticeChannel]:
    return list(db.session.scalars(select(NoticeChannel).order_by(NoticeChannel.id)))


def get_channel(channel_id: int) -> NoticeChannel:
    ch = db.session.get(NoticeChannel, channel_id)
    if ch is None:
        raise NotFound(_l("找不到该通道。"))
    return ch


def bindings() -> list[tuple[str, str, list[tuple[str, str]]]]:
    """The choices for a group robot's binding: (group label, kind, [(value, name)])."""
    return [
        (str(_l("社区")), "community", [(f"community:{c.id}", c.name) for c in
                                      db.session.scalars(select(Community).order_by(Community.id))]),
        (str(_l("网格")), "grid", [(f"grid:{g.id}", g.name) for g in db.session.scalars(select(Grid).order_by(Grid.id))]),
        (str(_l("单位")), "organisation", [(f"organisation:{o.id}", o.name) for o in db.session.scalars(
            select(Organisation).where(Organisation.active.is_(True)).order_by(Organisation.id))]),
    ]


def subdistricts() -> list[tuple[int, str]]:
    """The choices for an SMS gateway's "residents' status texts of" setting."""
    return [(sd.id, sd.name) for sd in db.session.scalars(select(Subdistrict).order_by(Subdistrict.id))]


def binding_of(ch: NoticeChannel) -> str:
    for name in ("community", "grid", "organisation"):
        value = getattr(ch, f"{name}_id")
        if value:
            return f"{name}:{value}"
    return ""


def _int(raw, low: int, high: int) -> int | None:
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        return None
    return value if low <= value <= high else None


def save_channel(actor: User, ch: NoticeChannel | None, form) -> NoticeChannel:
    """Create or change a channel; a secret left blank keeps the saved one. Raises Invalid, changing nothing."""
    errors: dict = {}
    kind = ch.kind if ch is not None else form.get("kind", "")
    if kind not in CHANNEL_KINDS:
        raise Invalid(_l("请检查填写的内容。"), {"kind": _l("请选择通道类型。")})
    name = (form.get("name") or "").strip()
    if not name:
        errors["name"] = _l("请填写名称。")
    elif len(name) > 80:
        errors["name"] = _l("名称不能超过 80 字。")
    rate = _int(form.get("rate_per_minute", ""), 1, 6000)
    if rate is None:
        errors["rate_per_minute"] = _l("请输入 1 到 6000 之间的整数。")
    attempts = _int(form.get("max_attempts", ""), 1, 50)
    if attempts is None:
        errors["max_attempts"] = _l("请输入 1 到 50 之间的整数。")
    binding = form.get("binding", "")
    bound: dict = {"community_id": None, "grid_id": None, "organisation_id": None}
    if binding:
        scope, _sep, raw_id = binding.partition(":")
        model = {"community": Community, "grid": Grid, "organisation": Organisation}.get(scope)
        if kind in PERSONAL_KINDS:
            errors["binding"] = _l("邮件和短信通道发给个人，不绑定群。")
        elif model is None or not raw_id.isdigit() or db.session.get(model, int(raw_id)) is None:
            errors["binding"] = _l("请选择要绑定的社区、网格或单位。")
        else:
            bound[f"{scope}_id"] = int(raw_id)
    residents = None  # the subdistrict whose residents' status texts go through this SMS gateway
    raw_sd = (form.get("residents_subdistrict") or "").strip()
    if raw_sd and kind == "sms":
        residents = int(raw_sd) if raw_sd.isdigit() and db.session.get(Subdistrict, int(raw_sd)) else None
        if residents is None:
            errors["residents_subdistrict"] = _l("请选择街道。")
    old = dict(ch.config or {}) if ch is not None else {}
    config: dict = {}
    for field in REGISTRY[kind].fields:
        raw = (form.get(f"cfg_{field.name}") or "").strip()
        if field.secret and not raw:
            raw = old.get(field.name, "")  # left blank: keep what was saved
        if not raw and field.default and not field.secret:
            raw = field.default
        if field.required and not raw:
            errors[f"cfg_{field.name}"] = _l("请填写此项。")
        elif raw and field.name.endswith("url") and not raw.startswith(("http://", "https://")):
            errors[f"cfg_{field.name}"] = _l("请填写以 http:// 或 https:// 开头的地址。")
        elif raw and field.name == "port" and _int(raw, 1, 65535) is None:
            errors[f"cfg_{field.name}"] = _l("请输入 1 到 65535 之间的端口号。")
        elif raw and field.name == "msgtype" and raw not in ("text", "markdown"):
            errors[f"cfg_{field.name}"] = _l("只能是 text 或 markdown。")
        if raw:
            config[field.name] = raw
    if errors:
        raise Invalid(_l("请检查填写的内容。"), errors)
    if ch is None:
        ch = NoticeChannel(kind=kind, created_at=now())
        db.session.add(ch)
    ch.name, ch.config, ch.rate_per_minute, ch.max_attempts = name, config, rate, attempts
    ch.active = bool(form.get("active"))
    for column, value in bound.items():
        setattr(ch, column, value)
    if residents is not None:  # one residents' channel per subdistrict: this one replaces any other
        for other in db.session.scalars(select(NoticeChannel).where(
                NoticeChannel.residents_subdistrict_id == residents, NoticeChannel.id != ch.id)):
            other.residents_subdistrict_id = None
    ch.residents_subdistrict_id = residents
    db.session.flush()
    log.info("notice channel %s (%s) saved by %s", ch.id, kind, actor.username)
    return ch


def masked_config(ch: NoticeChannel) -> list[tuple[object, str]]:
    """(label, shown value) for each setting; secrets masked."""
    out = []
    for field in REGISTRY[ch.kind].fields:
        value = (ch.config or {}).get(field.name, "")
        out.append((field.label, mask(value) if field.secret else value))
    return out


def send_test(actor: User, ch: NoticeChannel, address: str = "") -> OutboxMessage:
    """Queue a test message on the channel (the worker sends it; the outbox page shows the answer)."""
    if ch.personal and not address:
        raise Invalid(_l("请检查填写的内容。"), {"address": _l("请填写接收测试消息的邮箱或手机号。")})
    if address and not (EMAIL_RE.match(address) if ch.kind == "smtp" else MOBILE_RE.match(address)):
        raise Invalid(_l("请检查填写的内容。"), {"address": _l("邮箱或手机号格式不正确。")})
    title = str(_l("【测试消息】%(name)s", name=ch.name))
    row = enqueue(ch, render_plain(title, title + "\n" + str(_l("这是一条测试消息，收到即表示通道配置正确。"))),
                  key=f"test:{ch.id}:{token.token_hex(8)}", destination=address, kind="test", user_id=actor.id)
    db.session.flush()
    return row


# ---- the outbox -------------------------------------------------------------------------------------------

@dataclass
class Health:
    depth: int
    dead: int
    oldest_age: dt.timedelta | None


def health(at: dt.datetime | None = None) -> Health:
    """What to watch: messages waiting, dead letters, and how long the oldest undelivered has waited."""
    at = at or now()
    depth = db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.status.in_(("pending", "held")))) or 0
    dead = db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.status == "dead")) or 0
    oldest = db.session.scalar(select(func.min(OutboxMessage.created_at)).where(OutboxMessage.status == "pending"))
    return Health(depth, dead, (at - oldest) if oldest else None)


def messages(status: str = "", channel_id: int | None = None, user_id: int | None = None,
             limit: int = 200) -> list[OutboxMessage]:
    # The lists show each message's channel: load them with the page, not one query per row.
    query = (select(OutboxMessage).options(selectinload(OutboxMessage.channel))
             .order_by(OutboxMessage.id.desc()).limit(limit))
    if status == "retrying":
        query = query.where(OutboxMessage.status == "pending", OutboxMessage.attempts > 0)
    elif status in STATUS_LABELS:
        query = query.where(OutboxMessage.status == status)
    if channel_id:
        query = query.where(OutboxMessage.channel_id == channel_id)
    if user_id:
        query = query.where(OutboxMessage.user_id == user_id)
    return list(db.session.scalars(query))


def retry_dead(actor: User, message_id: int) -> OutboxMessage:
    """An admin sends a dead letter again."""
    msg = db.session.get(OutboxMessage, message_id)
    if msg is None:
        raise NotFound(_l("找不到该消息。"))
    if msg.status != "dead":
        raise Invalid(_l("只有发送失败的消息可以重试。"), {})
    retry(msg)
    log.info("outbox %s retried by %s", msg.id, actor.username)
    return msg


# ---- a user's own settings --------------------------------------------------------------------------------

def personal_channels() -> list[NoticeChannel]:
    return list(db.session.scalars(select(NoticeChannel).where(
        NoticeChannel.active.is_(True), NoticeChannel.kind.in_(PERSONAL_KINDS)).order_by(NoticeChannel.id)))


def settings_of(user: User) -> tuple[NoticePreference | None, dict[int, NoticeSubscription]]:
    pref = db.session.get(NoticePreference, user.id)
    subs = {s.channel_id: s for s in db.session.scalars(
        select(NoticeSubscription).where(NoticeSubscription.user_id == user.id))}
    return pref, subs


def _time(raw: str) -> dt.time | None | bool:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return dt.time.fromisoformat(raw)
    except ValueError:
        return False


def save_settings(user: User, form) -> None:
    """The user's addresses per personal channel, quiet hours and language; all or nothing."""
    errors: dict = {}
    addresses = {}
    for ch in personal_channels():
        raw = (form.get(f"address_{ch.id}") or "").strip()
        if raw and ch.kind == "smtp" and not EMAIL_RE.match(raw):
            errors[f"address_{ch.id}"] = _l("请输入正确的邮箱地址。")
        elif raw and ch.kind == "sms" and not MOBILE_RE.match(raw):
            errors[f"address_{ch.id}"] = _l("请输入 11 位手机号码。")
        addresses[ch.id] = raw
    start, end = _time(form.get("quiet_start", "")), _time(form.get("quiet_end", ""))
    if start is False:
        errors["quiet_start"] = _l("请输入时间，如 22:00。")
    if end is False:
        errors["quiet_end"] = _l("请输入时间，如 07:00。")
    if start is not False and end is not False and (start is None) != (end is None):
        errors["quiet_end"] = _l("免打扰的开始和结束时间需同时填写。")
    language = form.get("language", "zh_Hans_CN")
    if language not in LANGUAGES:
        errors["language"] = _l("请选择语言。")
    if errors:
        raise Invalid(_l("请检查填写的内容。"), errors)
    pref, subs = settings_of(user)
    if pref is None:
        pref = NoticePreference(user_id=user.id)
        db.session.add(pref)
    pref.quiet_start, pref.quiet_end, pref.language = start, end, language
    for channel_id, address in addresses.items():
        sub = subs.get(channel_id)
        if address and sub is None:
            db.session.add(NoticeSubscription(user_id=user.id, channel_id=channel_id, address=address))
        elif address:
            sub.address, sub.active = address, True
        elif sub is not None:
            db.session.delete(sub)
    db.session.flush()
