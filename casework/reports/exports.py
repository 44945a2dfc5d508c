"""The dashboard's tables as CSV (UTF-8 with BOM, for Excel) and XLSX, and case lists as CSV.

No resident's name, phone number, room or description is ever written; titles have phone numbers
masked, and any text a spreadsheet would run as a formula is defused with a leading quote.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from openpyxl import Workbook

from casework import labels
from casework.models.cases import mask_phones
from casework.services import clock
from casework.services.reports import DIMENSION_LABELS, Rate, Report
from casework.ui import DueViews

BOM = "\ufeff"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value: str) -> str:
    """Mask phone numbers (as on every page) and stop a spreadsheet from reading the text as a formula."""
    value = mask_phones(value)
    return "'" + value if value.startswith(FORMULA_START) else value


def _hours(seconds: int) -> float:
    return round(seconds / 3600, 1)


def tables(report: Report) -> list[tuple[str, list[str], list[list]]]:
    """The page's tables as (title, header, rows); rates stay Rate objects for each writer."""
    t = report.totals
    summary = [
        [_("受理量"), t.received, "", ""],
        [_("响应率"), t.response, t.response.num, t.response.den],
        [_("按时办结率"), t.on_time, t.on_time.num, t.on_time.den],
        [_("解决率"), t.resolution, t.resolution.num, t.resolution.den],
        [_("满意率"), t.satisfaction, t.satisfaction.num, t.satisfaction.den],
        [_("退回次数"), t.returns, "", ""],
        [_("延期次数（已批准）"), t.extensions, "", ""],
        [_("当前超时未办结"), report.overdue_total, "", ""],
    ]
    period = f"{report.period.start.isoformat()} ~ {report.period.end.isoformat()}"
    stages = [[str(s.label), s.count, _hours(s.median_seconds), _hours(s.p90_seconds)] for s in report.stages]
    ranking = [[row.rank, safe_text(row.label), row.figures.received, row.figures.response, row.figures.on_time,
                row.figures.resolution, row.figures.satisfaction, row.figures.returns, row.figures.extensions]
               for row in report.ranking]
    weeks = [[w.label, w.monday.isoformat(), w.received, w.completed] for w in report.weeks]
    rt = report.returns
    reason_header = [*rt.reason_labels(), _("合计")]
    returns_units = [[safe_text(r.label), *(r.counts[c] for c in rt.reasons), r.total] for r in rt.units]
    returns_units.append([_("合计"), *(rt.totals[c] for c in rt.reasons), rt.total])
    returns_time = [[r.label, *(r.counts[c] for c in rt.reasons), r.total] for r in rt.periods]
    words = DueViews(report.now)
    overdue = [[c.number, safe_text(c.title), str(labels.STATUS.get(c.status, c.status)), _when(c.stage_due_at),
                words.late_text(c.late, c.emergency), _("是") if c.parked else ""] for c in report.overdue]
    return [
        (_("汇总（%(period)s）", period=period), [_("指标"), _("数值"), _("分子"), _("分母")], summary),
        (_("各阶段用时（工作小时）"), [_("阶段"), _("件数"), _("中位数"), _("90分位")], stages),
        (_("排名（按%(dim)s，按时办结率从高到低）", dim=DIMENSION_LABELS[report.dim]),
         [_("名次"), str(DIMENSION_LABELS[report.dim]), _("受理量"), _("响应率"), _("按时办结率"), _("解决率"),
          _("满意率"), _("退回"), _("延期")], ranking),
        (_("周趋势"), [_("周"), _("周一"), _("受理"), _("办结")], weeks),
        (_("退回原因（按%(dim)s）", dim=DIMENSION_LABELS[report.dim]),
         [str(DIMENSION_LABELS[report.dim]), *reason_header], returns_units),
        (_("退回原因（按周）") if rt.every == "week" else _("退回原因（按月）"),
         [_("周") if rt.every == "week" else _("月"), *reason_header], returns_time),
        (_("当前超时未办结（超时最久的 %(n)d 件；工作日按 %(h)s 小时计，紧急件按自然时间）",
           n=len(report.overdue), h=words.hours_per_day),
         [_("编号"), _("标题"), _("所处阶段"), _("阶段时限"), _("已超时"), _("挂账中")], overdue),
    ]


def figures_csv(report: Report) -> bytes:
    """All tables in one CSV, separated by a blank line, each under its title."""
    out = io.StringIO()
    writer = csv.writer(out)
    for i, (title, header, rows) in enumerate(tables(report)):
        if i:
            writer.writerow([])
        writer.writerow([title])
        writer.writerow(header)
        for row in rows:
            writer.writerow([c.percent if isinstance(c, Rate) else c for c in row])
    return (BOM + out.getvalue()).encode("utf-8")


def figures_xlsx(report: Report) -> bytes:
    """One sheet per table; rates are numbers formatted as percentages (empty when not judged)."""
    book = Workbook()
    book.remove(book.active)
    names = [_("汇总"), _("各阶段用时"), _("排名"), _("周趋势"), _("退回原因"), _("退回趋势"), _("当前超时")]
    for name, (title, header, rows) in zip(names, tables(report), strict=True):
        sheet = book.create_sheet(title=name)
        sheet.append([title])
        sheet.append(header)
        for row in rows:
            sheet.append([c.value if isinstance(c, Rate) else c for c in row])
            for cell, value in zip(sheet[sheet.max_row], row, strict=True):
                if isinstance(value, Rate):
                    cell.number_format = "0.0%"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


CASE_HEADER = (_l("编号"), _l("标题"), _l("状态"), _l("紧急程度"), _l("类别"), _l("社区"), _l("网格"), _l("楼栋"),
               _l("承办单位"), _l("受理时间"), _l("当前阶段时限"), _l("办结时限"), _l("办结反馈时间"), _l("结案时间"),
               _l("结案方式"), _l("满意度"), _l("退回次数"), _l("延期次数"), _l("已超时"))


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def case_rows_csv(rows: Iterable, at: dt.datetime) -> Iterator[str]:
    """The case list behind a figure, streamed row by row (starts with the BOM); "已超时" in the
    board's words for a case late now (clock.lateness), empty otherwise."""
    words = DueViews(at)
    context = None
    out = io.StringIO()
    writer = csv.writer(out)

    def flush() -> str:
        text = out.getvalue()
        out.seek(0)
        out.truncate()
        return text

    writer.writerow([str(h) for h in CASE_HEADER])
    yield BOM + flush()
    for r in rows:
        late = ""
        if clock.is_late(r, at):
            context = context or clock.badge_context()
            late = words.late_text(clock.lateness(r, at, context), r.priority == "emergency")
        writer.writerow([
            r.number or "", safe_text(r.title), str(labels.STATUS.get(r.status, r.status)),
            str(labels.PRIORITY.get(r.priority, r.priority)), safe_text(r.category), safe_text(r.community),
            safe_text(r.grid), safe_text(r.building), safe_text(r.organisation or ""), _when(r.created_at),
            _when(r.stage_due_at), _when(r.due_at), _when(r.resolved_at), _when(r.closed_at),
            str(labels.RESOLUTION.get(r.resolution, "")) if r.resolution else "",
            str(labels.SATISFACTION.get(r.satisfaction, "")) if r.satisfaction else "",
            r.return_count or 0, r.extension_count or 0, late,
        ])
        yield flush()
