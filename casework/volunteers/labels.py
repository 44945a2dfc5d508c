"""Words for the volunteer screens: activity states and events, ledger kinds, membership states."""
from flask_babel import lazy_gettext as _l

ACTIVITY_STATE = {
    "planned": _l("计划中"), "open": _l("报名中"), "under_way": _l("进行中"),
    "hours_to_confirm": _l("待确认时长"), "done": _l("已完成"),
}
ACTIVITY_EVENT = {
    "open_signup": _l("开放报名"), "start": _l("开始活动"), "finish": _l("结束活动"),
    "confirm_hours": _l("确认时长"),
}
LEDGER = {"hours": _l("服务时长"), "points": _l("积分")}
ENTRY_KIND = {"earned": _l("获得"), "redeemed": _l("兑换"), "expired": _l("过期"), "adjusted": _l("调整")}
MEMBERSHIP = {"pending": _l("待队长审核"), "approved": _l("已入队"), "refused": _l("未通过")}


def hours_text(minutes: int | None) -> str:
    """Minutes shown as hours with one decimal (e.g. 90 → 1.5)."""
    return f"{(minutes or 0) / 60:.1f}"
AGREEMENT_STATE = {"draft": _l("待签约"), "active": _l("履约中"), "ended": _l("已到期"), "terminated": _l("已终止")}
CASE_HOURS_STATE = {"pending": _l("待队长确认"), "confirmed": _l("已确认"), "refused": _l("不予确认")}
