"""The /activate page: account name + one-time code + a new password → the user can log in."""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from casework.extensions import db, limiter
from casework.services import activation
from casework.services.errors import Invalid

bp = Blueprint("activation", __name__)


def _limit() -> str:
    return current_app.config.get("RATELIMIT_ACTIVATE", "10 per minute;50 per day")


@bp.route("/activate", methods=["GET", "POST"])
@limiter.limit(_limit, methods=["POST"])
def activate():
    """The form; a right code and a good password set the password and lead to the login page."""
    values = {"username": request.form.get("username", request.args.get("u", "")).strip(),
              "code": request.form.get("code", "").strip()}
    if request.method == "GET":
        return render_template("activation/activate.html", errors={}, values=values), 200, {"Cache-Control": "no-store"}
    try:
        activation.activate(values["username"], values["code"], request.form.get("password", ""),
                            request.form.get("confirm", ""), address=request.remote_addr or "")
    except Invalid as exc:
        db.session.rollback()
        if "code" in exc.errors:
            activation.record_refusal(request.remote_addr or "")
            db.session.commit()
        return render_template("activation/activate.html", errors=exc.errors, values=values,
                               message=exc.message), 422, {"Cache-Control": "no-store"}
    db.session.commit()
    return redirect(url_for("auth.login", activated=1))
