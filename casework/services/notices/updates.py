"""Status updates for those outside: a text message to the resident who asked for one on the report
form, and a GeoReport push to the client system whose API key created the case. Both are outbox rows
written in the transition's transaction, like every notice; nothing is sent from here.

A resident's text says only the case number, the words the tracking page adds for the event
(`EventSpec.public`) and the tracking link: never a name, a note or the phone number (which is the
recipient, kept in the row's `destination` and shown masked on admin screens). A push carries the
request exactly as `GET requests/{id}.json` shows it (services/open311.py: no people, no notes).
"""
from __future__ import annotations

from flask_babel import force_locale, gettext as _
from sqlalchemy import select

from casework import events, labels
from casework.extensions import db
from casework.models import ApiKey, ApiRequest, Case, CaseEvent, User
from casework.services.notices import routing
from casework.services.notices.content import scrub, track_link
from casework.services.notices.outbox import enqueue
from casework.timekeeping import now

RESIDENT_KIND = "resident_status"
PUSH_KIND = "open311_status"


def after_transition(actor: User | None, case: Case, row: CaseEvent) -> int:
    """Queue the resident's text and the client's push for one public transition; how many were queued."""
    if not row.public or events.spec(row.event) is None:
        return 0
    queued = 0
    # The resident's own answer on the tracking page (confirm, not fixed) needs no text about itself.
    if case.sms_consent_at is not None and case.reporter_phone and row.actor_label != "resident":
        queued += to_resident(case, row)
    if case.channel == "api":
        queued += push_to_client(case)
    return queued


def resident_text(case: Case, row: CaseEvent) -> dict:
    """The text: case number, the tracking page's words for the event, the tracking link."""
    spec = events.spec(row.event)
    with force_locale("zh_Hans_CN"):
        # Resolved asks the resident to confirm, in the tracking page's own sentence.
        words = str(labels.TRACK_STATUS["resolved"] if case.status == "resolved" else spec.public)
        title = _("【办理进度】%(number)s", number=case.number)
        link = track_link(case.tracking_code)
        text = scrub(_("您反映的事项 %(number)s：%(words)s", number=case.number, words=words)) \
            + "\n" + _("查看进度：%(link)s", link=link)
    return {"title": scrub(title), "text": text, "link": link, "case_number": case.number}


def to_resident(case: Case, row: CaseEvent) -> int:
    """One text on the subdistrict's residents' SMS channel (none configured: nothing is queued)."""
    channel_id = routing.resident_channel(case.community_id)
    if channel_id is None or not case.tracking_code:
        return 0
    return 1 if enqueue(channel_id, resident_text(case, row), key=f"{RESIDENT_KIND}:{case.id}:ev{row.id}",
                        destination=case.reporter_phone, kind=RESIDENT_KIND, case_id=case.id,
                        check_existing=False) else 0


def push_to_client(case: Case) -> int:
    """The request as GET requests/{id}.json shows it, to the webhook of the key that created the case."""
    from casework.services import open311
    hook = db.session.execute(
        select(ApiKey.webhook_channel_id, ApiKey.revoked_at, ApiKey.expires_at)
        .join(ApiRequest, ApiRequest.api_key_id == ApiKey.id).where(ApiRequest.case_id == case.id)).first()
    if hook is None or hook.webhook_channel_id is None or hook.revoked_at is not None \
            or (hook.expires_at is not None and hook.expires_at <= now()):
        return 0
    document = [open311.request_of_case(case.id, "zh_Hans_CN")]
    return 1 if enqueue(hook.webhook_channel_id, {"json": document}, key=f"open311:{case.id}:v{case.version}",
                        kind=PUSH_KIND, case_id=case.id) else 0
