"""What residents do without an account (report, follow, confirm or say "not fixed"), and the
privacy duties that come with their data (duplicates lookup, phone reveal, retention purge).

The tracking code is the resident's only credential: every function here that takes one answers
the same way for a code that does not exist and for one that is malformed.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass

from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import selectinload

from casework import access
from casework.extensions import db
from casework.models import Attachment, Building, Case, CaseEvent, Category, Community, Grid, OutboxMessage, User
from casework.services import audit, escalation, intake, photos, transitions
from casework.services.errors import Invalid, NotFound, Refused, ServiceError
from casework.services.numbering import TRACKING_ALPHABET, TRACKING_LENGTH
from casework.timekeeping import now
from casework.workflow import SATISFACTIONS

log = logging.getLogger(__name__)

DESCRIPTION_MAX = 2000
COMMENT_MAX = 500
DUPLICATE_WINDOW = dt.timedelta(days=7)
# Photos a resident may give one case in all: those sent with the report plus those added later
# from the tracking page (each upload at most photos.MAX_PHOTOS, like the report form).
MAX_RESIDENT_PHOTOS = 6
_CODE_RE = re.compile(f"^[{TRACKING_ALPHABET}]{{{TRACKING_LENGTH}}}$")
# The optional consent to status texts, as the report form shows it; the case keeps the words agreed to.
SMS_CONSENT = _l("我同意在事项办理进度变化时接收短信通知。短信只含事项编号、办理进度和查询链接，发送到上面填写的手机号码；"
                 "不同意也不影响办理。事项办结满 %(days)d 天后号码将被删除。")
# The outbox rows of residents' status texts (services/notices/updates.RESIDENT_KIND).
RESIDENT_TEXT_KIND = "resident_status"


def sms_consent_text() -> str:
    """The consent's words in the current language, as shown on the form and stored with the case."""
    return str(SMS_CONSENT % {"days": current_app.config["RETENTION_DAYS"]})[:300]


# Reporting -------------------------------------------------------------------------------------

def communities() -> list[Community]:
    """Every community, for the report form's first choice."""
    return list(db.session.scalars(select(Community).where(Community.active.is_(True)).order_by(Community.id)))


def buildings(community_id: int | None = None, q: str = "") -> list[Building]:
    """Buildings for the report form, narrowed by community and by a name or address fragment."""
    query = (select(Building).join(Grid).order_by(Grid.community_id, Building.id)
             .where(Building.active.is_(True), Grid.active.is_(True))  # deactivated: no new reports
             .options(selectinload(Building.grid).selectinload(Grid.community)))
    if community_id:
        query = query.where(Grid.community_id == community_id)
    q = (q or "").strip()[:40].replace("%", "").replace("_", "")
    if q:
        query = query.where(or_(Building.name.contains(q), Building.address.contains(q)))
    return list(db.session.scalars(query))


def categories() -> list[Category]:
    return list(db.session.scalars(select(Category).where(Category.active.is_(True)).order_by(Category.id)))


def _title_from(description: str) -> str:
    """A case title from the resident's own words: the first line, shortened."""
    first = description.strip().splitlines()[0].strip() if description.strip() else ""
    return first if len(first) <= 40 else first[:39] + "…"


def validate_report(values: dict) -> dict:
    """Field errors of a public report (Chinese messages keyed by field name); empty when fine."""
    errors: dict = {}
    community = db.session.get(Community, values["community_id"]) if values.get("community_id") else None
    if community is None:
        errors["community_id"] = _l("请选择所在社区。")
    building = db.session.get(Building, values["building_id"]) if values.get("building_id") else None
    if building is None or not building.active:
        errors["building_id"] = _l("请选择楼栋。")
    elif community is not None and building.grid.community_id != community.id:
        errors["building_id"] = _l("该楼栋不属于所选社区，请重新选择。")
    category = db.session.get(Category, values["category_id"]) if values.get("category_id") else None
    if category is None or not category.active:
        errors["category_id"] = _l("请选择问题类别。")
    if len(values.get("unit", "")) > 60:
        errors["unit"] = _l("单元/房号不能超过 60 字。")
    description = values.get("description", "")
    if not description:
        errors["description"] = _l("请描述遇到的问题。")
    elif len(description) > DESCRIPTION_MAX:
        errors["description"] = _l("问题描述不能超过 %(n)d 字。", n=DESCRIPTION_MAX)
    name = values.get("reporter_name", "")
    if not name:
        errors["reporter_name"] = _l("请填写您的称呼，例如“王女士”。")
    elif len(name) > 60:
        errors["reporter_name"] = _l("称呼不能超过 60 字。")
    phone = intake.normalise_mobile(values.get("reporter_phone"))
    if not phone:
        errors["reporter_phone"] = _l("请填写手机号码，方便回访。")
    elif not intake.MOBILE_RE.match(phone):
        errors["reporter_phone"] = _l("请输入正确的 11 位手机号码，例如 13812345678。")
    if not values.get("consent"):
        errors["consent"] = _l("请阅读并同意个人信息处理说明后再提交。")
    return errors


def submit_report(values: dict, uploads: list) -> Case:
    """A resident's report becomes a case in `reported` (channel web) with its photos; all or nothing."""
    errors = validate_report(values)
    cleaned: list[photos.Photo] = []
    try:
        cleaned = photos.prepare(uploads)
    except photos.PhotoTooLarge as exc:
        # Too large wins over other field errors: the answer is 413, the rest is shown too.
        raise photos.PhotoTooLarge(exc.message, {**errors, **exc.errors}) from exc
    except Invalid as exc:
        errors.update(exc.errors)
    if errors:
        raise Invalid(_l("请检查填写的内容。"), errors)
    case = intake.create_case(
        None, title=_title_from(values["description"]), description=values["description"],
        category_id=values["category_id"], building_id=values["building_id"], unit=values.get("unit", ""),
        channel="web", reporter_name=values["reporter_name"], reporter_phone=values["reporter_phone"],
        actor_label="resident")
    if values.get("sms_consent"):  # optional: recorded with its time and the words agreed to (PIPL)
        case.sms_consent_at, case.sms_consent_text = now(), sms_consent_text()
    photos.attach(case, cleaned, stage="before", uploaded_by=None)
    return case


# Following a case ------------------------------------------------------------------------------

def normalise_code(raw: str | None) -> str:
    """What a resident may type for a code: any case, spaces or dashes between groups."""
    return re.sub(r"[\s\-]", "", raw or "").upper()[:32]


def find_by_code(raw: str | None) -> Case:
    """The case with this tracking code, or NotFound — the same answer for every code that is not one."""
    code = normalise_code(raw)
    case = None
    if _CODE_RE.match(code):
        case = db.session.scalars(select(Case).where(Case.tracking_code == code)).first()
    if case is None:
        raise NotFound(_l("没有找到这个跟踪码对应的事项。"))
    return case


def carrying_case(case: Case) -> Case | None:
    """For a case merged as a duplicate: the case that carries on (following a chain of merges)."""
    seen = {case.id}
    target = case.duplicate_of
    while target is not None and target.duplicate_of is not None and target.id not in seen and len(seen) < 10:
        seen.add(target.id)
        target = target.duplicate_of
    return target


def public_timeline(case: Case) -> list[CaseEvent]:
    """The rows a resident may see: public ones only, oldest first (templates show label and time only)."""
    return list(db.session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.public.is_(True))
        .order_by(CaseEvent.id)))


def public_photos(case: Case) -> list[Attachment]:
    return list(case.attachments)


def public_photo(case: Case, attachment_id: int) -> Attachment:
    """One of the case's photos, or NotFound."""
    att = db.session.get(Attachment, attachment_id)
    if att is None or att.case_id != case.id:
        raise NotFound(_l("没有找到这张照片。"))
    return att


def _refuse_for_resident(case: Case, exc: ServiceError) -> Refused:
    """A resident-readable refusal. Never pass on the service's own message: it may name staff."""
    if case.status == "closed":
        return Refused(_l("该事项已经办结（可能已由网格员电话回访确认），无需再次操作。"))
    if case.status != "resolved":
        return Refused(_l("该事项已重新办理，暂时不需要您确认。"))
    return Refused(_l("该事项刚刚有了新进展，请查看最新状态后再操作。"))


def confirm_fixed(case: Case, satisfaction: str, comment: str, version: int | None) -> CaseEvent:
    """The resident confirms the fix with a rating: the case closes as solved (like a call-back)."""
    errors = {}
    if satisfaction not in SATISFACTIONS:
        errors["satisfaction"] = _l("请选择您对办理结果的评价。")
    if len(comment) > COMMENT_MAX:
        errors["comment"] = _l("意见不能超过 %(n)d 字。", n=COMMENT_MAX)
    if case.status != "resolved":
        raise _refuse_for_resident(case, Refused(""))
    if errors:
        raise Invalid(_l("请检查填写的内容。"), errors)
    try:
        return transitions.fire(None, case, "close", {"satisfaction": satisfaction, "note": comment},
                                version=version, actor_label="resident")
    except Invalid:
        raise
    except ServiceError as exc:
        raise _refuse_for_resident(case, exc) from exc


def report_not_fixed(case: Case, comment: str, version: int | None) -> CaseEvent:
    """The resident says it is not fixed: the case goes back to its handler (or to the grid), as a call-back would."""
    if case.status != "resolved":
        raise _refuse_for_resident(case, Refused(""))
    if not comment:
        raise Invalid(_l("请检查填写的内容。"), {"note": _l("请说明还有什么问题没有解决。")})
    if len(comment) > COMMENT_MAX:
        raise Invalid(_l("请检查填写的内容。"), {"note": _l("说明不能超过 %(n)d 字。", n=COMMENT_MAX)})
    try:
        return transitions.fire(None, case, "reopen", {"note": comment}, version=version,
                                actor_label="resident")
    except Invalid:
        raise
    except ServiceError as exc:
        raise _refuse_for_resident(case, exc) from exc


def _resident_photo_count(case: Case) -> int:
    """Photos the resident has given this case (with the report and added since), counted in the database."""
    return db.session.scalar(select(func.count()).select_from(Attachment).where(
        Attachment.case_id == case.id, Attachment.stage == "before", Attachment.uploaded_by_id.is_(None)))


def photo_room(case: Case) -> int:
    """How many more photos the resident may add now: 0 once the case is closed or the cap is reached."""
    if not case.is_open:
        return 0
    return max(0, MAX_RESIDENT_PHOTOS - _resident_photo_count(case))


def _check_room(case: Case, wanted: int) -> None:
    """Refuse (422) photos past the case's cap, saying how many more it can take."""
    room = MAX_RESIDENT_PHOTOS - _resident_photo_count(case)
    if room <= 0:
        raise Invalid(_l("请检查上传的照片。"), {"photos": _l(
            "每件事项最多 %(n)d 张照片，已经传满，不能再补充。如需说明情况，请联系社区网格员。", n=MAX_RESIDENT_PHOTOS)})
    if wanted > room:
        raise Invalid(_l("请检查上传的照片。"), {"photos": _l(
            "本事项还能补充 %(room)d 张照片（每件事项最多 %(n)d 张），请少选几张。", room=room, n=MAX_RESIDENT_PHOTOS)})


def add_resident_photos(case: Case, uploads: list) -> list[Attachment]:
    """The resident adds photos to an open case: they join the report's photos, the timeline says so
    (publicly: "您补充了 N 张照片") and the case's grid staff get a notice.

    Stored like the report's photos (stage "before", no uploader), so the retention purge erases
    them with the others, and their files go if the transaction does not commit. The count is kept
    in the timeline row's note (digits only), which both timelines read for their words.
    """
    closed = Refused(_l("该事项已经办结，不能再补充照片。如有新的问题，请重新反映。"))
    if not case.is_open:
        raise closed
    if not uploads:
        raise Invalid(_l("请检查上传的照片。"), {"photos": _l("请选择照片。")})
    _check_room(case, len(uploads))  # before decoding anything
    cleaned = photos.prepare(uploads)
    # Two uploads at once must not both pass the cap: lock the case row for the short write
    # (PostgreSQL; SQLite has one writer at a time) and check again, the status included.
    db.session.refresh(case, with_for_update=True)
    if not case.is_open:
        raise closed
    _check_room(case, len(cleaned))
    rows = photos.attach(case, cleaned, stage="before", uploaded_by=None)
    row = transitions.add_event(None, case, "photos", "resident_photos", str(len(rows)), public=True,
                                actor_label="resident")
    # Notices are stored as text: in the staff's language, not the language this resident chose.
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        escalation.notify(escalation.grid_staff_of(case), case, "resident_photos", f"photos:{row.id}",
                          n=len(rows))
    log.info("case %s: resident added %d photo(s)", case.number, len(rows))
    return rows


# Staff side: duplicates and the phone number ---------------------------------------------------

def possible_duplicates(case: Case, limit: int = 10) -> list[Case]:
    """Open cases in the same building and category from the last 7 days (what triage compares against)."""
    since = now() - DUPLICATE_WINDOW
    return list(db.session.scalars(
        select(Case).where(Case.building_id == case.building_id, Case.category_id == case.category_id,
                           Case.status != "closed", Case.id != case.id, Case.created_at >= since)
        .order_by(Case.created_at.desc(), Case.id.desc()).limit(limit)))


def merged_duplicates(case: Case) -> list[Case]:
    """Cases that were merged into this one as duplicates (the other end of the link)."""
    return list(db.session.scalars(select(Case).where(Case.duplicate_of_id == case.id).order_by(Case.id)))


def reveal_phone(actor: User, case: Case, address: str = "") -> str:
    """Show the full number to grid staff or a supervisor of the case, recording who looked and when
    (on the case's timeline and in the audit)."""
    if not access.may_reveal_phone(actor, case):
        audit.record("phone.reveal", actor=actor, obj=f"case:{case.id}", outcome="refused", address=address)
        raise Refused(_l("您无权查看该号码。"))
    transitions.add_event(actor, case, "reveal", "reveal_phone", public=False)
    audit.record("phone.reveal", actor=actor, obj=f"case:{case.id}", address=address,
                 details={"number": case.number, "in_text": len(case.phones_in_text())})
    log.info("case %s: phone revealed to %s", case.number, actor.username)
    return case.reporter_phone or ""


# Retention -------------------------------------------------------------------------------------

@dataclass
class Purged:
    """What a purge erased: cases that lost personal data, and resident photos deleted."""

    cases: int
    photos: int


def purge_personal_data(retention_days: int, *, at: dt.datetime | None = None) -> Purged:
    """Erase the personal data of cases closed more than `retention_days` ago: the reporter's name and
    number, and the photos the resident uploaded with the report (they can show faces, door numbers,
    the inside of a home).

    The handler's "after" photos stay: they are the evidence of the work, taken by staff. Everything
    else (the case, its timeline, its figures) stays too; running it again changes nothing. The photo
    rows go now, their files only once the caller's commit succeeds (a failed commit leaves every
    photo as it was).
    """
    if retention_days < 0:
        raise ValueError("retention_days must not be negative")
    cutoff = (at or now()) - dt.timedelta(days=retention_days)
    old = (Case.status == "closed", Case.closed_at.is_not(None), Case.closed_at < cutoff)
    has_resident_photos = select(Attachment.id).where(Attachment.case_id == Case.id,
                                                      Attachment.stage == "before").exists()
    cases = db.session.scalar(
        select(func.count()).select_from(Case)
        .where(*old, or_(Case.reporter_name.is_not(None), Case.reporter_phone.is_not(None), has_resident_photos)))
    db.session.execute(
        update(Case)
        .where(*old, or_(Case.reporter_name.is_not(None), Case.reporter_phone.is_not(None)))
        .values(reporter_name=None, reporter_phone=None))
    # The same number sits in the outbox rows of the resident's status texts: the undelivered ones go
    # (they can no longer be sent), the sent ones keep their record without the number.
    purged_ids = select(Case.id).where(*old).scalar_subquery()
    texts = (OutboxMessage.kind == RESIDENT_TEXT_KIND, OutboxMessage.case_id.in_(purged_ids))
    db.session.execute(delete(OutboxMessage).where(*texts, OutboxMessage.status.in_(("pending", "held", "dead"))))
    db.session.execute(update(OutboxMessage).where(*texts, OutboxMessage.destination != "").values(destination=""))
    erased = list(db.session.scalars(select(Attachment).join(Case).where(*old, Attachment.stage == "before")))
    for att in erased:
        db.session.delete(att)
    db.session.flush()
    photos.delete_after_commit([att.stored_name for att in erased])
    log.info("purge: personal data erased from %d cases closed before %s (%d resident photos)",
             cases, cutoff, len(erased))
    return Purged(cases=cases, photos=len(erased))
