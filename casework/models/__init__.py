"""Typed SQLAlchemy models, one module per aggregate."""
from casework.models.audit import AuditEntry
from casework.models.cases import Attachment, Case, CaseEvent, CaseLink, Escalation, Extension, Notification
from casework.models.counters import Counter
from casework.models.people import Organisation, User, user_buildings, user_grids
from casework.models.places import Building, Community, Grid, Subdistrict
from casework.models.policy import STAGE_OF_STATUS, STAGES, Category, HolidayOverride, Setting, TimeLimit

__all__ = [
    "AuditEntry", "STAGES", "STAGE_OF_STATUS", "Attachment", "Building", "Escalation", "Extension", "Setting", "TimeLimit", "Case", "CaseEvent", "CaseLink", "Category", "Community", "Counter", "Grid",
    "HolidayOverride", "Notification", "Organisation", "Subdistrict", "User",
    "user_buildings", "user_grids",
]
