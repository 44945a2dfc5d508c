"""Words the UI shows for the workflow's codes, in Chinese with English translations."""
from flask_babel import lazy_gettext as _l, lazy_pgettext as _lp

from casework.events import SPECS

STATUS = {
    "reported": _l("新上报"), "triage": _l("网格研判"), "building_leader": _l("楼栋长处理"),
    "handling": _l("物业/合伙人办理"), "resolved": _l("待回访"), "arbitration": _l("待仲裁"),
    "closed": _l("已办结"),
}
# The timeline names what happened ("Signed for"); a button names what to do ("Sign for"). The
# Chinese is often the same word, so each use has its own context for the translation. The
# workflow's events carry both in their spec (casework.events); the rows below are the timeline's
# other entries (reports, urges, clock requests, residents' answers).
EVENT = {
    **{s.name: s.timeline for s in SPECS},
    "report": _lp("timeline", "上报"), "urge": _lp("timeline", "催办"),
    "supervise": _lp("timeline", "督办"), "warning": _lp("timeline", "预警"),
    "reveal_phone": _lp("timeline", "查看完整号码"), "comment": _lp("timeline", "备注"),
    "extend_requested": _lp("timeline", "申请延期"), "extend_approved": _lp("timeline", "批准延期"),
    "extend_refused": _lp("timeline", "不批准延期"), "park_requested": _lp("timeline", "申请挂账"),
    "park_approved": _lp("timeline", "批准挂账"), "park_refused": _lp("timeline", "不批准挂账"),
    "unpark": _lp("timeline", "恢复计时"),
    "resident_confirm": _lp("timeline", "居民确认解决"), "resident_reopen": _lp("timeline", "居民反馈未解决"),
    "resident_photos": _lp("timeline", "居民补充照片"),
    "building_moved": _lp("timeline", "楼栋调整"),
    "notice_sent": _lp("timeline", "通知已发出"),
    "hotspot_opened": _lp("timeline", "热点主动立案"), "hotspot_linked": _lp("timeline", "关联主动立案"),
    # lead and assisting handlers (主办 / 协办; services/assists.py)
    "assist_requested": _lp("timeline", "邀请协办"), "assist_note": _lp("timeline", "协办进展"),
    "assist_done": _lp("timeline", "协办完成"), "assist_waived": _lp("timeline", "主办办结，协办未完成"),
}
# Short button words: the workflow's events from their spec, the urge; anything else falls back to
# the timeline's word.
BUTTON = dict(EVENT, **{s.name: s.button for s in SPECS}, urge=_lp("button", "催办"))
PRIORITY = {"normal": _l("一般"), "urgent": _l("紧急"), "emergency": _l("特急")}
CHANNEL = {"walk_in": _l("来访"), "phone": _l("电话"), "web": _l("网上"), "patrol": _l("巡查"),
           "api": _l("接口")}
RESOLUTION = {"solved": _l("已解决"), "duplicate": _l("重复件"), "rejected": _lp("resolution", "不予受理"),
              "withdrawn": _l("已撤销")}
SATISFACTION = {"satisfied": _l("满意"), "basically_satisfied": _l("基本满意"),
                "dissatisfied": _l("不满意")}
RETURN_REASON = {
    "wrong_jurisdiction": _l("不属本辖区"), "not_our_duty": _l("非本单位职责"),
    "insufficient_info": _l("信息不全"), "wrong_category": _l("分类错误"),
    "needs_higher_level": _l("需上级协调"), "other": _l("其他"),
}
REJECT_REASON = {
    "not_in_scope": _l("不属受理范围"), "invalid_report": _l("无效诉求"),
    "already_solved": _l("已自行解决"), "other": _l("其他"),
}
# Why a case in triage goes to another grid (reroute), countable like returns.
REROUTE_REASON = {"wrong_grid": _l("不属于本网格"), "wrong_building": _l("楼栋填写有误"), "other": _l("其他")}
REASON = {**RETURN_REASON, **REJECT_REASON, **REROUTE_REASON}
# The reasons each event asks for (the form's choices).
REASONS_OF = {"return_case": RETURN_REASON, "reject": REJECT_REASON, "reroute": REROUTE_REASON}
# Whom an arbitration hands the case to.
HOLDER = {"grid": _l("网格员（网格研判）"), "leader": _l("楼栋长"), "organisation": _l("承办单位")}
ROLE = {
    "grid_staff": _l("网格员"), "building_leader": _l("楼栋长"), "handler": _l("承办人员"),
    "community_supervisor": _l("社区督导"), "subdistrict_supervisor": _l("街道督导"),
    "admin": _l("管理员"), "auditor": _l("审计员"),
}
ORG_KIND = {"property": _l("物业服务企业"), "enterprise": _l("企业合伙人"),
            "social_group": _l("社会组织"), "individual": _l("个人合伙人"),
            "volunteer_team": _l("志愿服务队")}
# What the resident's tracking page (and the Open311 API's status_notes) says about where the case is.
TRACK_STATUS = {
    "reported": _l("已收到您的反映，等待网格员签收。"),
    "triage": _l("网格员已签收，正在研判如何处理。"),
    "building_leader": _l("已交楼栋长协调处理。"),
    "handling": _l("已交物业或社区合伙人办理。"),
    "arbitration": _l("社区正在协调确定办理单位。"),
    "resolved": _l("已处理完毕，请您确认问题是否解决。"),
    "closed": _l("已办结，感谢您的反映。"),
}
TRACK_CLOSED = {
    "solved": _l("已办结，感谢您的反映。"),
    "duplicate": _l("您反映的问题与另一件相同的事项合并办理，进展见下方。"),
    "rejected": _l("经核实不予受理。如有疑问，请联系社区网格员。"),
    "withdrawn": _l("该事项已撤销。"),
}
