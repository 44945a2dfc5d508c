"""The dashboard's filter form (a GET form: period, place, grouping), with readable date errors."""
from __future__ import annotations

import datetime as dt
import re

from flask_babel import lazy_gettext as _l
from wtforms import Form, SelectField, StringField

from casework.numbers import as_id
from casework.services import reports

# 2026-03-01, 2026/3/1, 2026.3.1, 2026年3月1日
DATE_RE = re.compile(r"^\s*(\d{4})\s*(?:[-/.]|年)\s*(\d{1,2})\s*(?:[-/.]|月)\s*(\d{1,2})\s*日?\s*$")


def parse_date(raw: str | None) -> dt.date | None:
    """A date the way people type it, or None when it is not a real date in 2000–2100."""
    match = DATE_RE.match(raw or "")
    if not match:
        return None
    try:
        day = dt.date(*(int(g) for g in match.groups()))
    except ValueError:
        return None
    return day if 2000 <= day.year <= 2100 else None


def _is_iso(raw: str | None) -> bool:
    try:
        dt.date.fromisoformat((raw or "").strip())
    except ValueError:
        return not (raw or "").strip()
    return True


def _int_or_none(raw) -> int | None:
    raw = (raw or "").strip()
    return as_id(raw)


class ReportForm(Form):
    """Read from request.args; field errors appear next to the fields, the typed text is kept."""

    date_from = StringField(_l("开始日期"), name="from", id="date_from", render_kw={"type": "date"})
    date_to = StringField(_l("结束日期"), name="to", id="date_to", render_kw={"type": "date"})
    community = SelectField(_l("社区"), validate_choice=False)
    grid = SelectField(_l("网格"), validate_choice=False)
    dim = SelectField(_l("分组"), validate_choice=False)

    start: dt.date | None = None
    end: dt.date | None = None

    def fill_defaults(self, formdata) -> None:
        """No period in the URL at all means the last 30 days (an emptied field is an error)."""
        if "from" not in formdata and "to" not in formdata:
            period = reports.Period.last_days(30)
            self.date_from.data = period.start.isoformat()
            self.date_to.data = period.end.isoformat()

    def validate_date_from(self, field) -> None:
        if not (field.data or "").strip():
            field.errors.append(_l("请填写开始日期。"))
            return
        self.start = parse_date(field.data)
        if self.start is None:
            field.errors.append(_l("无法识别的日期，请按“年-月-日”填写，例如 2026-03-01。"))

    def validate_date_to(self, field) -> None:
        if not (field.data or "").strip():
            field.errors.append(_l("请填写结束日期。"))
            return
        self.end = parse_date(field.data)
        start = parse_date(self.date_from.data)
        if self.end is None:
            field.errors.append(_l("无法识别的日期，请按“年-月-日”填写，例如 2026-03-01。"))
        elif start is not None and self.end < start:
            field.errors.append(_l("结束日期不能早于开始日期。"))
        elif start is not None and self.end > reports.latest_end(start):
            field.errors.append(_l("时间跨度不能超过 %(n)d 年，请缩短范围。", n=reports.MAX_YEARS))

    def validate(self, extra_validators=None) -> bool:
        # Run every field's check even when an earlier one failed, so both errors show at once.
        ok = True
        for name in ("date_from", "date_to"):
            field = getattr(self, name)
            field.errors = []
            getattr(self, f"validate_{name}")(field)
            ok = ok and not field.errors
            if not _is_iso(field.data):
                # A date input shows nothing for text it cannot read: show what was typed instead.
                field.render_kw = {"type": "text", "placeholder": "2026-03-01"}
        return ok

    @property
    def community_id(self) -> int | None:
        return _int_or_none(self.community.data)

    @property
    def grid_id(self) -> int | None:
        return _int_or_none(self.grid.data)
