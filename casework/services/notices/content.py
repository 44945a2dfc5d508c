"""What a notice says: short text with the case number, category, building, the lateness words the
boards use, and a link. Built from a `NoticeFacts` value that has no field for the resident's name,
phone, the case's free-text title or internal notes, so no template can leak them (privacy by
construction); `scrub` masks anything phone-like that slipped into a building or grid name anyway."""
from __future__ import annotations

import re
from dataclasses import dataclass

from flask import current_app
from flask_babel import force_locale, gettext as _, lazy_gettext as _l

from casework import labels

# A mainland mobile (1[3-9] + 9 digits) or any run of 7+ digits (landlines, numbers with separators).
PHONE_RE = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}(?!\d)|\d{7,}")

HEADLINES = {
    "new_case": _l("新案件"),
    "handoff": _l("转交给您"),
    "handoff_org": _l("派给本单位"),
    "reopened": _l("重办"),
    "returned": labels.EVENT["return_case"],
    "rerouted": labels.EVENT["reroute"],
    "arbitration": _l("待仲裁"),
    "arbitrated": _l("仲裁结果"),
    "callback": _l("待回访"),
    "warning": labels.EVENT["warning"],
    "urge": labels.EVENT["urge"],
    "manual_urge": labels.EVENT["urge"],
    "supervise": labels.EVENT["supervise"],
    "supervise_subdistrict": labels.EVENT["supervise"],
    "extend_requested": labels.EVENT["extend_requested"],
    "park_requested": labels.EVENT["park_requested"],
    "extension_decided": _l("延期/挂账审批结果"),
    "resident_photos": labels.EVENT["resident_photos"],
    "test": _l("测试消息"),
    "assist_requested": _l("请协办"),
    "assist_done": _l("协办完成"),
}
# The lateness words used on boards and in the in-app notices.
LINES = {
    "new_case": _l("网格内有新上报的案件，请及时签收。"),
    "handoff": _l("案件已转到您这里，请及时处理。"),
    "handoff_org": _l("案件已派给本单位，请及时签收办理。"),
    "reopened": _l("回访未解决，案件已重办。"),
    "returned": _l("案件被退回，请重新处理。"),
    "rerouted": _l("案件由其他网格转入本网格，请研判处理。"),
    "arbitration": _l("案件多次退回或不属原辖区，请仲裁确定办理单位。"),
    "arbitrated": _l("经社区仲裁，案件由您办理（首接负责），请及时处理。"),
    "callback": _l("案件已办结反馈，请回访居民。"),
    "warning": _l("即将超时，请抓紧办理。"),
    "urge": _l("已超时，请尽快办理（催办）。"),
    "manual_urge": _l("督导催办，请抓紧办理。"),
    "supervise": _l("超时未办，社区督办。"),
    "supervise_subdistrict": _l("超时未办，街道督办。"),
    "extend_requested": _l("延期申请待审批。"),
    "park_requested": _l("挂账申请待审批。"),
    "extension_decided": _l("您的延期/挂账申请已审批：%(decision)s。"),
    "resident_photos": _l("居民补充了照片。"),
    "test": _l("这是一条测试消息，收到即表示通道配置正确。"),
    "assist_requested": _l("本单位被邀请协办此案件，请查看并报告协办完成情况。"),
    "assist_done": _l("协办单位已报告完成，请查看后办结反馈。"),
}
DECISIONS = {"approved": _l("批准"), "refused": _l("不批准")}


@dataclass(frozen=True)
class NoticeFacts:
    """The only things about a case a notice may say."""

    case_id: int
    number: str
    category_zh: str
    category_en: str
    building: str
    grid: str
    status: str
    emergency: bool

    @classmethod
    def of(cls, case) -> NoticeFacts:
        """One query for the names (a transition has usually expired the case's relationships)."""
        from sqlalchemy import select

        from casework.extensions import db
        from casework.models import Building, Category, Grid
        names = db.session.execute(select(
            select(Category.name_zh).where(Category.id == case.category_id).scalar_subquery(),
            select(Category.name_en).where(Category.id == case.category_id).scalar_subquery(),
            select(Building.name).where(Building.id == case.building_id).scalar_subquery(),
            select(Grid.name).where(Grid.id == case.grid_id).scalar_subquery(),
        )).one()
        return cls(case_id=case.id, number=case.number or "", category_zh=names[0], category_en=names[1],
                   building=names[2], grid=names[3], status=case.status, emergency=case.priority == "emergency")


def scrub(text: str) -> str:
    """Mask anything that looks like a phone number."""
    return PHONE_RE.sub(lambda m: "*" * len(m.group(0)), text)


def _url_adapter():
    adapter = current_app.extensions.get("notice_url_adapter")
    if adapter is None:
        from urllib.parse import urlsplit
        base = urlsplit(current_app.config.get("NOTICE_BASE_URL") or "http://localhost:5000")
        adapter = current_app.url_map.bind(base.netloc, script_name=base.path or "/", url_scheme=base.scheme)
        current_app.extensions["notice_url_adapter"] = adapter
    return adapter


def case_link(case_id: int) -> str:
    """The absolute address of the case page, on NOTICE_BASE_URL (what people tap in the group)."""
    return _url_adapter().build("cases.detail", {"case_id": case_id}, force_external=True)


def track_link(code: str) -> str:
    """The resident's tracking page on NOTICE_BASE_URL (only ever sent to the resident's own phone)."""
    return _url_adapter().build("public.track", {"code": code}, force_external=True)


def render(kind: str, facts: NoticeFacts, locale: str = "zh_Hans_CN", **values) -> dict:
    """The payload for one notice: title, text (one or two lines), link, in the reader's language."""
    with force_locale(locale):
        en = locale.startswith("en")
        headline = str(HEADLINES.get(kind, kind))
        if facts.emergency:
            headline = _("特急") + " · " + headline
        line = LINES.get(kind)
        if kind == "extension_decided":
            line = LINES[kind] % {"decision": str(DECISIONS.get(values.get("decision"), ""))}
        category = facts.category_en if en else facts.category_zh
        title = f"【{headline}】{facts.number}"
        where = f"{category} · {facts.building}"
        link = case_link(facts.case_id)
        text = scrub(f"{title} {where}\n{line or ''}") + f"\n{_('详情')}：{link}"
    return {"title": scrub(title), "text": text, "link": link, "case_number": facts.number}


def render_plain(title: str, text: str) -> dict:
    """A payload without a case (digests, test messages)."""
    return {"title": scrub(title), "text": scrub(text), "link": ""}
