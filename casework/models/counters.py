"""Named counters, e.g. one per year of case numbers."""
from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from casework.extensions import db


class Counter(db.Model):
    name: Mapped[str] = mapped_column(String(30), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)
