"""The stage clock: when a case enters a stage, its stage start and due times are set here.

The time-limit rules (category × priority × stage, working calendar) plug in behind
`start_stage`; every transition and intake call it, so nothing else needs to change.
"""
from __future__ import annotations

import datetime as dt

from casework.models import Case


def start_stage(case: Case, at: dt.datetime) -> None:
    """Reset the stage clock on entering a new stage."""
    case.stage_started_at = at
    case.stage_due_at = None
