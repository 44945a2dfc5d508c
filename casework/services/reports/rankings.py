"""Groups ranked by their figures, with their names."""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    select,
)

from casework.extensions import db
from casework.models import (
    Building, Category, Community, Grid, Organisation, User,
)
from casework.services.reports.rates import Figures, figures

@dataclass
class GroupRow:
    key: int | None
    label: str
    figures: Figures
    rank: int = 0


def group_labels(dim: str, keys, english: bool = False) -> dict:
    """Names for the group keys of a dimension (one query)."""
    ids = [k for k in keys if k is not None]
    if dim == "community":
        rows = db.session.execute(select(Community.id, Community.name).where(Community.id.in_(ids)))
    elif dim == "building":
        rows = db.session.execute(select(Building.id, Building.name).where(Building.id.in_(ids)))
    elif dim == "grid":
        rows = db.session.execute(select(Grid.id, Grid.name).where(Grid.id.in_(ids)))
    elif dim == "category":
        name = Category.name_en if english else Category.name_zh
        rows = db.session.execute(select(Category.id, name).where(Category.id.in_(ids)))
    elif dim == "organisation":
        rows = db.session.execute(select(Organisation.id, Organisation.name).where(Organisation.id.in_(ids)))
    else:
        rows = db.session.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
    names = {k: str(v) for k, v in rows}
    names[None] = str(_l("未设楼栋长") if dim == "leader" else _l("未转承办单位") if dim == "organisation"
                      else _l("（无）"))
    return names


def ranked(rows: list[GroupRow]) -> list[GroupRow]:
    """Order by on-time rate, then response rate, then received; equal keys share a rank."""
    def sort_key(r: GroupRow):
        f = r.figures
        return (f.on_time.value is None, -(f.on_time.value or 0), -(f.response.value or 0), -f.received)
    rows.sort(key=lambda r: (sort_key(r), r.label))
    previous = None
    for position, row in enumerate(rows, start=1):
        key = sort_key(row)
        row.rank = rows[position - 2].rank if key == previous else position
        previous = key
    return rows


def ranking(user, scope, period, at, dim: str, english: bool = False,
            per_group: dict | None = None) -> list[GroupRow]:
    """The figures per group of the dimension, ranked."""
    if per_group is None:
        per_group = figures(user, scope, period, at, dim)
    names = group_labels(dim, per_group.keys(), english)
    return ranked([GroupRow(k, names.get(k, str(k)), f) for k, f in per_group.items()])
