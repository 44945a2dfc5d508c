"""Case numbers (SX-2026-000123) and residents' tracking codes."""
from __future__ import annotations

import secrets

from sqlalchemy import insert, select, update

from casework.extensions import db
from casework.models import Case, Counter

# No 0/O, 1/I/L: a code read out over the phone must not be misheard.
TRACKING_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
TRACKING_LENGTH = 10


def next_value(name: str, step: int = 1) -> int:
    """Reserve `step` values of a counter atomically and return the last one."""
    table = Counter.__table__
    row = db.session.execute(
        update(table).where(table.c.name == name).values(value=table.c.value + step).returning(table.c.value)
    ).first()
    if row is None:
        db.session.execute(insert(table).values(name=name, value=step))
        return step
    return row[0]


def case_number(year: int, seq: int) -> str:
    return f"SX-{year}-{seq:06d}"


def next_case_number(year: int) -> str:
    return case_number(year, next_value(f"case-{year}"))


def new_tracking_code() -> str:
    """A short unguessable code (31^10 ≈ 8×10^14) the resident uses to follow the case."""
    return "".join(secrets.choice(TRACKING_ALPHABET) for _ in range(TRACKING_LENGTH))


def tracking_code_taken(code: str) -> bool:
    return db.session.scalar(select(Case.id).where(Case.tracking_code == code)) is not None
