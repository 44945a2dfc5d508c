"""Kanban boards: each user's columns, cards that act through htmx, drag-and-drop moves, bulk actions."""
from __future__ import annotations

from types import SimpleNamespace

from flask import Blueprint, abort, make_response, render_template, request
from flask_babel import get_locale, gettext as _
from flask_login import current_user, login_required

from casework import access
from casework import labels as L
from casework.extensions import db, htmx
from casework.boards.cards import CardLinks, CardRenderer
from casework.services import boards, queries
from casework.services.errors import Invalid, ServiceError
from casework.services.transitions import check_version
from casework.timekeeping import now
from casework import ui
from casework.events import EVENT_INPUTS
from casework.ui import (DueViews, case_and_event_or_404, event_form_context, form_data, get_case_or_404,
                         jurisdiction, render_page)
from casework.workflow import EVENTS

bp = Blueprint("boards", __name__, url_prefix="/board")


@bp.before_request
@login_required
def _require_login():
    """Every board page needs a logged-in user."""


def _locale() -> str:
    return str(get_locale())


def card_words(role: str, at=None) -> SimpleNamespace:
    """The UI words a board repeats on every card, translated once per render (with the role's column names).

    Attributes, not dict keys: Jinja's `W.pick` tries getattr first, and a dict's failed getattr
    raises and catches an AttributeError, 15 times a card. What must stay equal: the card cache
    key holds the language and role these words depend on (boards/cards.py, `CardRenderer.head`).
    """
    at = at or now()
    return SimpleNamespace(**{
        "button": {k: str(v) for k, v in L.BUTTON.items()},
        "priority": {k: str(v) for k, v in L.PRIORITY.items()},
        "column": {c.key: str(c.label) for c in boards.COLUMNS.get(role, ())},
        "pick": _("选择"), "move_to": _("移到…"), "more": _("更多…"), "reported_at": _("上报时间"),
        # The card's age, labelled (beside the due badge's own overdue figure).
        "age_label": _("已报 %(age)s", age="%s"),
        "reopened": _("重办"), "reopen_reason": _("居民反馈："), "done_note": _("办结说明："),
        "after_photo": _("完工照片"),
        "returned": _("退回 %(n)s 次", n="%d"),
        "assist": _("协办 %(settled)s/%(total)s", settled="%d", total="%d"),
        "assist_mine": {"open": _("我方待完成"), "done": _("我方已完成"), "waived": _("主办已办结")},
        "age": ui.age_words(at),
        "due": DueViews(at),
        "locale": _locale(),
        "links": CardLinks(),
    })


@bp.route("/")
def index():
    """The user's board; htmx polls it with If-None-Match and gets 304 while nothing changed."""
    f = queries.CaseFilters.from_args(request.args)
    at = now()
    tag = boards.etag(jurisdiction(), f, locale=_locale(), at=at)
    if tag in request.if_none_match:
        response = make_response("", 304)
        response.set_etag(tag)
        return response
    # The ETag is about the data, not the pages: a 304 keeps the pages the browser already shows.
    board = boards.load_board(jurisdiction(), f, locale=_locale(), at=at, etag_value=tag,
                              pages=boards.parse_pages(jurisdiction(), request.args.get("pages")))
    partial = bool(htmx) and htmx.target == "board"
    template = "boards/_board.html" if partial else "boards/board.html"
    extra = {} if partial else boards.filter_options(jurisdiction())
    words = card_words(jurisdiction().role, at)
    response = make_response(render_page(template, board=board, f=f, now=at, W=words,
                                         cards=_renderer(words, board.names), **extra))
    response.set_etag(tag)
    return response


@bp.route("/columns/<key>")
def column_page(key: str):
    """The next 50 cards of one column, with the next "show more" button."""
    f = queries.CaseFilters.from_args(request.args)
    try:
        col = boards.load_column_page(jurisdiction(), key, f, max(2, request.args.get("page", 2, type=int)))
    except ServiceError:
        abort(404)
    words, names = card_words(jurisdiction().role), boards.Names.for_cases(v.case for v in col.cards)
    return render_template("boards/_cards.html", col=col, f=f, now=now(), W=words, cards=_renderer(words, names))


def _renderer(words: SimpleNamespace, names: boards.Names) -> CardRenderer:
    """Renders (or reuses) the cards of one response, with this request's words, time and names."""
    return CardRenderer(jurisdiction().role, words.locale, names, words.due, words.age, words.links)


def render_card(case, *, status: int = 200, form_event: str | None = None, errors=None, values=None,
                all_actions: bool = False, move_menu: bool = False):
    """The card fragment, re-read from the database, with its inline form open when asked."""
    column = boards.column_of(jurisdiction(), case)
    card = boards.card_view(jurisdiction(), case, column or "")
    words = card_words(jurisdiction().role)
    names = boards.Names.for_cases([case])
    needs = EVENT_INPUTS[form_event] if form_event else ()
    handlers = queries.handler_choices(case) if "organisation" in needs or "holder" in needs else []
    return make_response(render_template(
        "boards/_card.html", facts=_renderer(words, names).facts(card), form_event=form_event,
        all_actions=all_actions, move_menu=move_menu, errors=errors or {}, values=values or {},
        handlers=handlers, now=now(), W=words, **event_form_context(jurisdiction(), case, form_event)), status)


@bp.route("/cards/<int:case_id>")
def card(case_id: int):
    """One card as it is now (also what "cancel" on an inline form shows); ?actions=all opens "更多…",
    ?menu=move the "移到…" menu (the board's cards carry a button that fetches it, not the menu)."""
    return render_card(get_case_or_404(case_id, jurisdiction()), all_actions=request.args.get("actions") == "all",
                       move_menu=request.args.get("menu") == "move")


@bp.route("/cards/<int:case_id>/events/<event>/form")
def event_form(case_id: int, event: str):
    """The card with the inline form for an event that needs a note, a reason or a target."""
    case = get_case_or_404(case_id, jurisdiction())
    if event not in EVENTS:
        abort(404)
    return render_card(case, form_event=event, values={"to": request.args.get("to", "")})


@bp.route("/cards/<int:case_id>/events/<event>", methods=["POST"])
def fire_event(case_id: int, event: str):
    """Fire an event from a card: the card comes back updated and the board refreshes its columns."""
    case = case_and_event_or_404(case_id, event)
    data = form_data()
    try:
        boards.fire_to(current_user, case, event, data, version=request.form.get("version", type=int),
                       target=data.get("to") or None)
    except Invalid as exc:
        db.session.rollback()
        response = render_card(case, status=exc.status, form_event=event, errors=exc.errors, values=data)
        return response
    except ServiceError as exc:
        db.session.rollback()
        return refused(exc)
    return moved(case, event)


def moved(case, event: str):
    """Commit the move; the card re-renders, a short confirmation names the case and where it went
    (with a link: on a phone the card may now sit in a column off-screen), and the board refreshes."""
    db.session.commit()
    response = render_card(case)
    column = boards.column_of(jurisdiction(), case)
    place = str(boards.column_label(jurisdiction(), column)) if column else str(L.STATUS[case.status])
    response.set_data(response.get_data(as_text=True) + render_template(
        "boards/_toast.html", case=case, event=event, place=place, on_board=column is not None))
    response.headers["HX-Trigger"] = "board-refresh"
    return response


@bp.route("/cards/<int:case_id>/move", methods=["POST"])
def move(case_id: int):
    """A card dropped on (or "moved to") another column fires the event that leads there."""
    case = get_case_or_404(case_id, jurisdiction())
    target = request.form.get("to", "")
    version = request.form.get("version", type=int)
    try:
        _source, event = boards.move_event(current_user, case, target)
        if EVENT_INPUTS.get(event):
            # The event needs a note, a reason or a target: open its form in the card first.
            check_version(case, version)
            return render_card(case, form_event=event, values={"to": target})
        boards.fire_to(current_user, case, event, {}, version=version, target=target)
    except ServiceError as exc:
        db.session.rollback()
        return refused(exc)
    return moved(case, event)


@bp.route("/bulk/sign", methods=["POST"])
def bulk_sign():
    """Grid staff sign for every ticked new case; the summary names any that could not be signed."""
    if not access.may_bulk_sign(current_user):
        abort(403)
    result = boards.sign_many(current_user, boards.parse_picks(request.form.getlist("cases")))
    db.session.commit()
    return bulk_response(result, _("已签收 %(n)d 件。", n=len(result.done)))


@bp.route("/bulk/urge", methods=["POST"])
def bulk_urge():
    """Supervisors urge (催办) every ticked case; each case's timeline records the urge."""
    if not access.may_bulk_urge(current_user):
        abort(403)
    try:
        result = boards.urge_many(current_user, boards.parse_picks(request.form.getlist("cases")),
                                  request.form.get("note", ""))
    except Invalid as exc:
        return refused(exc)
    db.session.commit()
    return bulk_response(result, _("已催办 %(n)d 件。", n=len(result.done)))


def bulk_response(result: boards.BulkResult, summary: str):
    """The bulk summary in the alert area; the board refreshes behind it."""
    status = 200 if result.done or not result.failed else 409
    if not result.done and not result.failed:
        status, summary = 422, _("请先勾选案件。")
    response = make_response(render_template("boards/_bulk_result.html", result=result, summary=summary), status)
    response.headers["HX-Retarget"] = "#alerts"
    response.headers["HX-Reswap"] = "innerHTML"
    response.headers["HX-Trigger"] = "board-refresh"
    return response


def refused(exc: ServiceError):
    """A refused action: the reason in the alert area, nothing changed, and the board re-reads the database."""
    return ui.refused(exc, trigger="board-refresh")
