"""The admin's API-key page: issue a key (shown once), list keys with last use and expiry, revoke,
and the switch for key-less reads."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from casework import access
from casework.extensions import db
from casework.services import apikeys, residents
from casework.services.notices import admin as notice_admin
from casework.services.errors import Invalid, NotFound
from casework.timekeeping import now
from casework.ui import guard, render_page

bp = Blueprint("open311_admin", __name__, url_prefix="/admin/api-keys")


guard(bp, access.may_administer)  # only administrators manage keys; others see a 404


@bp.after_request
def _no_store(response):
    response.headers["Cache-Control"] = "no-store"  # the page may show a new key once
    return response


def _page(values: dict | None = None, errors: dict | None = None, issued=None, status: int = 200,
          hook: dict | None = None):
    """The key page; `hook` is the webhook form of one key (its id, typed values, errors, a new secret)."""
    return render_page("open311/keys.html", keys=apikeys.list_keys(), communities=residents.communities(),
                           values=values or {}, errors=errors or {}, issued=issued, now=now(),
                           public_reads=apikeys.public_reads(), hook=hook or {}, mask=notice_admin.mask), status


def _expiry(raw: str) -> dt.datetime | None:
    """A date typed on the form: the key works through that whole day (China time)."""
    if not raw:
        return None
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise Invalid(_l("请检查填写的内容。"), {"expires_at": _l("请输入正确的日期。")}) from None
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time())


@bp.route("/", methods=["GET", "POST"])
def keys():
    """The key list; a valid form issues a key and shows it once on the answer page."""
    if request.method == "GET":
        return _page()
    form = request.form
    values = {"name": form.get("name", ""), "communities": form.getlist("communities", type=int),
              "all_communities": bool(form.get("all_communities")), "can_write": bool(form.get("can_write")),
              "expires_at": form.get("expires_at", "")}
    try:
        issued = apikeys.issue_key(current_user, name=values["name"], community_ids=values["communities"],
                                   all_communities=values["all_communities"], can_write=values["can_write"],
                                   expires_at=_expiry(values["expires_at"]), address=request.remote_addr or "")
    except Invalid as exc:
        db.session.rollback()
        return _page(values, exc.errors, status=422)
    db.session.commit()
    return _page(issued=issued)


@bp.route("/<int:key_id>/revoke", methods=["POST"])
def revoke(key_id: int):
    """Revoke a key: its next call is refused."""
    try:
        apikeys.revoke_key(current_user, key_id, address=request.remote_addr or "")
    except NotFound:
        abort(404)
    db.session.commit()
    return redirect(url_for("open311_admin.keys"), 303)


@bp.route("/<int:key_id>/webhook", methods=["POST"])
def webhook(key_id: int):
    """Register, change or (empty address) remove the key's status webhook; a generated secret is shown once."""
    url, secret = request.form.get("webhook_url", ""), request.form.get("webhook_secret", "")
    try:
        generated = apikeys.set_webhook(current_user, key_id, url=url, secret=secret,
                                        address=request.remote_addr or "")
    except NotFound:
        abort(404)
    except Invalid as exc:
        db.session.rollback()
        return _page(hook={"key_id": key_id, "url": url, "errors": exc.errors}, status=422)
    db.session.commit()
    if generated:
        return _page(hook={"key_id": key_id, "secret": generated})
    return redirect(url_for("open311_admin.keys"), 303)


@bp.route("/public-reads", methods=["POST"])
def public_reads():
    """Turn key-less reads of the Open311 API on or off."""
    apikeys.set_public_reads(current_user, request.form.get("enabled") == "1", address=request.remote_addr or "")
    db.session.commit()
    return redirect(url_for("open311_admin.keys"), 303)
