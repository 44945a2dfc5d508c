"""Shared view helpers: template globals, filters and response headers. Blueprints import this, not each other."""
from __future__ import annotations

import datetime as dt
import functools
from typing import NamedTuple

from flask import Blueprint, Flask, abort, g, request
from flask_babel import get_locale
from flask_login import current_user, login_required

from casework import access, labels
from casework.services import assists, clock, residents, timeliness
from casework.extensions import db
from casework.models import Case
from casework.models.cases import mask_phone, mask_phones
from casework.timekeeping import now
from casework.events import EVENT_INPUTS


def jurisdiction() -> access.Jurisdiction:
    """The logged-in user's jurisdiction, built once per request (kept in `flask.g`).

    Views hand it to services and to the policy (`access.*(j, case)`) instead of the user when
    they ask more than once: a board asks for every card.
    """
    user = current_user._get_current_object()
    found = g.get("casework_jurisdiction")
    if found is None or found.user_id != user.id:
        found = g.casework_jurisdiction = access.Jurisdiction.of(user)
    return found


def guard(bp: Blueprint, may, *, status: int = 404) -> None:
    """Every view of `bp` needs a logged-in user for whom `may(user)` (an `access.may_*`) holds; anyone
    else gets `status` (404 by default: a page one may not open looks like a page that does not exist)."""
    @bp.before_request
    @login_required
    def _guard():
        if not may(current_user):
            abort(status)


def get_case_or_404(case_id: int, who: access.Who) -> Case:
    """Load a case the user may see, or answer 404 (outside their scope looks like missing)."""
    case = db.session.get(Case, case_id)
    if case is None or not access.can_view(who, case):
        abort(404)
    return case


def case_and_event_or_404(case_id: int, event: str) -> Case:
    """The case an event is fired on (in the request's jurisdiction) and a known workflow event; else 404."""
    from casework.workflow import EVENTS
    case = get_case_or_404(case_id, jurisdiction())
    if event not in EVENTS:
        abort(404)
    return case


def event_form_context(who, case, event: str | None) -> dict:
    """What an event's inline form shows besides its fields (case page and board card alike), read
    here so that templates query nothing: where a jurisdiction move may go (rerouting.form_choices)
    and, for the report-done form, the assisting organisations still at work (the lead says why not
    wait) and the volunteer team that may name who went."""
    from casework.services import rerouting
    from casework.services.volunteers import casehours
    context = rerouting.form_choices(who, case, event)
    if event == "report_done":
        context["assist_waiting"] = assists.open_names(case.id)
        context["case_team"] = casehours.form_team(case)
    return context


def render_page(template: str, **context) -> str:
    """Render a template; for a full page (not a `_fragment.html`) read the header's unread-notice
    count here, once, so that base.html queries nothing. Views rendering pages call this."""
    from flask import render_template
    if not template.rsplit("/", 1)[-1].startswith("_") and "unread_notices" not in context:
        context["unread_notices"], context["my_card_code"] = (
            header_facts(current_user) if current_user.is_authenticated else (0, None))
    return render_template(template, **context)


def header_facts(user) -> tuple[int, str | None]:
    """What the header shows of the user, in one statement: the unread notices and, when the person
    is also a volunteer (one person, several hats), their volunteer card's code."""
    from sqlalchemy import func, select

    from casework.models import Notification, Volunteer
    unread = (select(func.count()).select_from(Notification)
              .where(Notification.user_id == user.id, Notification.read_at.is_(None)).scalar_subquery())
    card = select(Volunteer.card_code).where(Volunteer.user_id == user.id).limit(1).scalar_subquery()
    count, code = db.session.execute(select(unread, card)).one()
    return count or 0, code


def refused(exc, *, trigger: str | None = None):
    """A refused action (a ServiceError): the reason in the alert area, and nothing changed.

    The message names any field errors too (a bulk action has no form to show them next to). A
    plain (non-htmx) request gets the full error page instead of a fragment. `trigger` is an
    htmx event for the page (the board's "board-refresh" re-reads the database: the card snaps back).
    """
    from flask import make_response
    from flask_babel import gettext as _
    from casework.extensions import htmx
    message = str(exc.message)
    if getattr(exc, "errors", None):
        message += " " + " ".join(str(v) for v in exc.errors.values())
    template = "_error.html" if htmx else "error.html"
    response = make_response(render_page(template, status=exc.status, title=_("操作未完成"),
                                         message=message), exc.status)
    if htmx:
        response.headers["HX-Retarget"] = "#alerts"
        response.headers["HX-Reswap"] = "innerHTML"
        if trigger:
            response.headers["HX-Trigger"] = trigger
    return response


def case_panel_context(user, case: Case) -> dict:
    """What the case panel shows besides the case, read here so its templates query nothing: the
    due badge, the clock's pending request, at triage the look-alike open cases (for whoever may merge), the
    duplicates merged into it, whether the user may add "after" photos, and the assisting parts (协办)."""
    may_merge = case.status in ("reported", "triage") and access.may_fire(user, case, "merge")
    return {
        "pending": timeliness.pending(case),
        "due": due_view(case),
        "duplicates": residents.possible_duplicates(case) if may_merge else [],
        "merged": residents.merged_duplicates(case),
        "may_add_photo": access.may_add_after_photo(user, case),
        "assist": assists.panel(user, case),
    }


def form_data() -> dict:
    """The posted form as a plain dict of first values; chosen photos (non-empty file parts named
    "photos") as a list under "photos", for an event that takes them (办结反馈)."""
    data = {k: request.form.get(k) for k in request.form}
    chosen = [f for f in request.files.getlist("photos") if f is not None and (f.filename or "").strip()]
    if chosen:
        data["photos"] = chosen
    return data


def _fmt_dt(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.strftime(fmt) if value else ""


def age_words(at: dt.datetime | None = None):
    """The short age of a card (5分钟 / 3小时 / 2天; English 5m / 3h / 2d), as a function of the time
    it began. Every age of one render is measured from the same instant `at` (default: now), and
    the language is looked up once, not per card."""
    at = at or now()
    units = ("m", "h", "d") if str(get_locale()).startswith("en") else ("分钟", "小时", "天")

    def age(value: dt.datetime | None) -> str:
        if value is None:
            return ""
        seconds = max(0, int((at - value).total_seconds()))
        if seconds < 3600:
            return f"{seconds // 60}{units[0]}"
        if seconds < 86400:
            return f"{seconds // 3600}{units[1]}"
        return f"{seconds // 86400}{units[2]}"
    return age


_DUE_ICON = {"overdue": "late", "due_soon": "soon", "parked": "pause", "on_time": "ok"}


class DueView(NamedTuple):
    """One due badge: state (on_time / due_soon / overdue / parked), icon, words, and the due time as a title."""

    state: str
    icon: str
    text: str
    title: str


class DueViews:
    """The due badges of many cases as the UI shows them (state, icon, words), for one request.

    A board shows up to 300 badges: the words are translated, the calendar and settings read and
    the time taken once, then each card costs one `clock.badge`.
    """

    def __init__(self, at: dt.datetime | None = None):
        from flask_babel import gettext as _
        from flask_babel import pgettext
        self.at = at or now()
        self.context = None  # read at the first badge: a board without due times needs no settings
        # One wording for every time left or late (board, dashboard, exports; docs/metrics.md):
        # working days / working hours, or days / hours on the wall clock for emergencies.
        self.words = {
            "late": _("超时 %(n)s %(unit)s"), "late_plain": _("已超时"), "left": _("剩余 %(n)s %(unit)s"),
            "parked": _("挂账中"), "parked_late": _("挂账中，%(late)s"),
            "work_days": _("个工作日"), "work_hours": _("工作小时"),
            "days": pgettext("duration", "天"), "hours": pgettext("duration", "小时"),
            "title": _("本环节时限"),
        }

    def span(self, amount: float, unit: str, emergency: bool) -> tuple[float, str]:
        """(amount, unit word) of a span from `clock.badge` / `clock.lateness`."""
        w = self.words
        if emergency:
            return amount, w["days"] if unit == "days" else w["hours"]
        return amount, w["work_days"] if unit == "days" else w["work_hours"]

    @property
    def hours_per_day(self):
        """The hours of one working day (7.5 by default), as the words count days: 7.5, not 7.50."""
        from casework.timekeeping import _tidy
        if self.context is None:
            self.context = clock.badge_context()
        return _tidy(self.context[2])

    def late_text(self, late, emergency: bool) -> str:
        """超时 3.1 个工作日 (or 已超时 under a twentieth of an hour), from a `clock.lateness` badge."""
        if not late.amount:
            return self.words["late_plain"]
        n, unit = self.span(late.amount, late.unit, emergency)
        return self.words["late"] % {"n": n, "unit": unit}

    def __call__(self, case) -> DueView | None:
        """The badge of one case, or None while its stage has no due time (or it is closed)."""
        if self.context is None and case.stage_due_at is not None and case.status != "closed":
            self.context = clock.badge_context()
        b = clock.badge(case, self.at, self.context)
        if b.state == "none":
            return None
        words = self.words
        emergency = case.priority == "emergency"
        if b.state == "parked":
            text = (words["parked_late"] % {"late": self.late_text(b, emergency)} if b.amount
                    else words["parked"])
        elif b.state == "overdue":
            text = self.late_text(b, emergency)
        else:
            n, unit = self.span(b.amount, b.unit, emergency)
            text = words["left"] % {"n": n, "unit": unit}
        return DueView(b.state, _DUE_ICON[b.state], text, f"{words['title']} {_due_time_text(case.stage_due_at)}")


@functools.lru_cache(maxsize=65536)
def _due_time_text(value: dt.datetime) -> str:
    """`_fmt_dt` of a due time, kept per process: a board titles 300 badges with the same due times each render."""
    return _fmt_dt(value)


def due_view(case) -> DueView | None:
    """The due badge of one case (see DueViews), with the request's shared DueViews."""
    from flask import g
    views = g.get("due_views")
    if views is None:
        views = g.due_views = DueViews()
    return views(case)


def event_label(event) -> str:
    """The staff timeline's words for a row; photos a resident added say how many (kept in the row's note)."""
    if event.event == "resident_photos" and (event.note or "").isdigit():
        from flask_babel import gettext as _
        return _("居民补充照片 %(n)d 张", n=int(event.note))
    return str(labels.EVENT.get(event.event, event.event))


def init_app(app: Flask) -> None:
    """Register template helpers and the headers every response carries."""

    @app.context_processor
    def inject():
        return {
            "L": labels, "access": access, "locale": str(get_locale()), "EVENT_INPUTS": EVENT_INPUTS,
            "category_label": lambda c: c.label(str(get_locale())) if c else "",
        }

    app.jinja_env.globals["event_label"] = event_label
    app.jinja_env.filters["dt"] = _fmt_dt
    app.jinja_env.filters["age"] = lambda value: age_words()(value)
    app.jinja_env.filters["mask_phone"] = mask_phone
    # Numbers typed into free text (title, description, unit, name, notes) are masked like the field.
    app.jinja_env.filters["mask_phones"] = mask_phones

    @app.after_request
    def headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
        )
        # Pages with residents' data must not sit in shared caches or the back-forward cache.
        if current_user.is_authenticated and "Cache-Control" not in response.headers:
            response.headers["Cache-Control"] = "no-store"
        response.vary.add("HX-Request")
        return response
