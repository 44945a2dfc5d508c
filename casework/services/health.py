"""What a load balancer and a monitoring system ask: is the database there, is the schema current,
when did the sweep last run."""
from __future__ import annotations

import datetime as dt
from functools import lru_cache

from sqlalchemy import select, text

from casework.config import ROOT
from casework.extensions import db
from casework.models import Setting
from casework.timekeeping import now

LAST_SWEEP_KEY = "sweep_last_at"


@lru_cache(maxsize=1)
def migration_heads() -> frozenset[str]:
    """The head revision(s) of migrations/ (read once per process: the code does not change under it)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    return frozenset(ScriptDirectory.from_config(config).get_heads())


def check() -> dict:
    """{"database": ok|error, "migrations": at_head|behind|unknown, ...}; never raises."""
    out: dict = {"database": "ok", "migrations": "unknown"}
    try:
        db.session.execute(text("SELECT 1"))
        heads = migration_heads()
        try:
            current = frozenset(db.session.scalars(text("SELECT version_num FROM alembic_version")))
        except Exception:  # no alembic_version table: the schema was never migrated
            db.session.rollback()
            current = frozenset()
        out["migrations"] = "at_head" if current == heads else "behind"
        out["revision"] = sorted(current)
        if current != heads:
            out["expected"] = sorted(heads)
    except Exception as exc:  # the database is down, locked or unreachable: say so, do not fail
        out["database"] = "error"
        out["error"] = exc.__class__.__name__
    finally:
        db.session.rollback()
    out["ok"] = out["database"] == "ok" and out["migrations"] == "at_head"
    return out


def record_sweep(at: dt.datetime) -> None:
    """Note when the sweep ran (in the sweep's own transaction), for the `last sweep age` metric."""
    db.session.merge(Setting(key=LAST_SWEEP_KEY, value=at.isoformat()))


def last_sweep_age_seconds() -> float | None:
    """Seconds since the sweep last ran, or None if it never has."""
    value = db.session.scalar(select(Setting.value).where(Setting.key == LAST_SWEEP_KEY))
    if not value:
        return None
    return max(0.0, (now() - dt.datetime.fromisoformat(value)).total_seconds())
