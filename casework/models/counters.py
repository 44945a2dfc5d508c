"""Named counters, e.g. one per year of case numbers; and the boards' per-scope change counters."""
from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from casework.extensions import db


class Counter(db.Model):
    name: Mapped[str] = mapped_column(String(30), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class ScopeCounter(db.Model):
    """How many committed transactions have changed a case in one place or organisation.

    `kind` is "grid", "building", "community" or "org" (a case's handler organisation, assigned or
    returned-by), or "epoch" (id 0: anything every board shows, such as names and the calendar).
    Written only by `services/boards/changes.py`, in the writer's own transaction; a board's ETag
    reads the rows of the viewer's jurisdiction by primary key (`Jurisdiction.counter_keys`).
    A missing row reads as 0.
    """

    __tablename__ = "scope_counter"

    kind: Mapped[str] = mapped_column(String(12), primary_key=True)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(Integer, default=0)
