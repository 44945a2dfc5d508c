"""Shared view helpers: template globals, filters and response headers. Blueprints import this, not each other."""
from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from flask import Flask, abort, request
from flask_babel import get_locale
from flask_login import current_user

from casework import access, labels
from casework.services import clock, escalation, timeliness
from casework.extensions import db
from casework.models import Case
from casework.models.cases import mask_phone, mask_phones
from casework.timekeeping import now
from casework.workflow import EVENT_INPUTS


def get_case_or_404(case_id: int, user) -> Case:
    """Load a case the user may see, or answer 404 (outside their scope looks like missing)."""
    case = db.session.get(Case, case_id)
    if case is None or not access.can_view(user, case):
        abort(404)
    return case


def refused(exc):
    """A refused action (a ServiceError): the message in the alert area, and nothing changed.

    A plain (non-htmx) request gets the full error page instead of a fragment.
    """
    from flask import make_response, render_template
    from flask_babel import gettext as _
    from casework.extensions import htmx
    template = "_error.html" if htmx else "error.html"
    response = make_response(render_template(template, status=exc.status, title=_("操作未完成"),
                                             message=str(exc.message)), exc.status)
    if htmx:
        response.headers["HX-Retarget"] = "#alerts"
        response.headers["HX-Reswap"] = "innerHTML"
    return response


def form_data() -> dict:
    """The posted form as a plain dict of first values."""
    return {k: request.form.get(k) for k in request.form}


def _fmt_dt(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.strftime(fmt) if value else ""


def _age(value: dt.datetime | None) -> str:
    """Short age for a card: 5分钟 / 3小时 / 2天 (English: 5m / 3h / 2d)."""
    if value is None:
        return ""
    seconds = max(0, int((now() - value).total_seconds()))
    en = str(get_locale()).startswith("en")
    if seconds < 3600:
        return f"{seconds // 60}{'m' if en else '分钟'}"
    if seconds < 86400:
        return f"{seconds // 3600}{'h' if en else '小时'}"
    return f"{seconds // 86400}{'d' if en else '天'}"


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
        self.at = at or now()
        self.context = None  # read at the first badge: a board without due times needs no settings
        self.words = {
            "late": _("超时 %(n)s%(unit)s"), "late_plain": _("已超时"), "left": _("剩余 %(n)s%(unit)s"),
            "parked": _("挂账中"), "days": _("天"), "hours": _("小时"), "work_hours": _("工时"),
            "title": _("本环节时限"),
        }

    def __call__(self, case) -> DueView | None:
        """The badge of one case, or None while its stage has no due time (or it is closed)."""
        if self.context is None and case.stage_due_at is not None and case.status != "closed":
            self.context = clock.badge_context()
        b = clock.badge(case, self.at, self.context)
        if b.state == "none":
            return None
        words = self.words
        if b.state == "parked":
            text = words["parked"]
        else:
            unit = words["days"] if b.unit == "days" else (
                words["hours"] if case.priority == "emergency" else words["work_hours"])
            if b.state == "overdue":
                text = words["late"] % {"n": b.amount, "unit": unit} if b.amount else words["late_plain"]
            else:
                text = words["left"] % {"n": b.amount, "unit": unit}
        return DueView(b.state, _DUE_ICON[b.state], text, f"{words['title']} {_fmt_dt(case.stage_due_at)}")


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
            "clock_pending": timeliness.pending,
            "unread_notices": (lambda: escalation.unread_count(current_user)) if current_user.is_authenticated else (lambda: 0),
        }

    # Globals (not context) so imported macros such as the due badge can use them.
    app.jinja_env.globals["due_view"] = due_view
    app.jinja_env.globals["event_label"] = event_label
    app.jinja_env.filters["dt"] = _fmt_dt
    app.jinja_env.filters["age"] = _age
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
