"""The auditor's page: the audit log with filters, and the same rows as CSV. Auditor only."""
from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, abort, request, stream_with_context
from flask_babel import gettext as _
from flask_login import current_user

from casework import access
from casework.extensions import db
from casework.services import audit
from casework.ui import guard, render_page

bp = Blueprint("audit", __name__, url_prefix="/audit")
BOM = "\ufeff"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# Only the auditor reads the log; everyone else (the admin included) gets a 404.
guard(bp, access.may_read_audit)


@bp.route("/")
def index():
    """The log, newest first, 100 rows a page, filtered by time range, actor, action and outcome."""
    f = audit.AuditFilters.from_args(request.args)
    if f.errors:
        return render_page("audit/index.html", f=f, rows=[], total=0, actions=audit.actions(),
                               china_time=audit.china_time, per_page=audit.PER_PAGE), 422
    rows, total = audit.page_of(f)
    return render_page("audit/index.html", f=f, rows=rows, total=total, actions=audit.actions(),
                           china_time=audit.china_time, per_page=audit.PER_PAGE)


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


@bp.route("/audit.csv")
def export():
    """The filtered rows as CSV (UTF-8 with BOM, for Excel); the export itself is audited."""
    f = audit.AuditFilters.from_args(request.args)
    if f.errors:
        abort(422)
    audit.record("export", actor=current_user, obj="audit.csv", address=request.remote_addr or "",
                 details={k: v for k, v in f.as_args().items()})
    db.session.commit()
    header = [_("序号"), _("时间（北京时间）"), _("操作人"), _("地址"), _("动作"), _("对象"), _("结果"), _("详情"),
              _("哈希")]
    statement = audit.search(f)

    def rows():
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(header)
        yield BOM + out.getvalue()
        for entry in db.session.scalars(statement.execution_options(yield_per=1000)):
            out.seek(0)
            out.truncate()
            writer.writerow([entry.id, audit.china_time(entry), _cell(entry.actor_name), _cell(entry.address),
                             _cell(entry.action), _cell(entry.object), _cell(entry.outcome), _cell(entry.details),
                             entry.hash])
            yield out.getvalue()

    return Response(stream_with_context(rows()), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="audit.csv"'})
