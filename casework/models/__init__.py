"""Typed SQLAlchemy models, one module per aggregate."""
from casework.models.apikeys import ApiKey, ApiRequest, api_key_communities
from casework.models.audit import AuditEntry
from casework.models.assists import CaseAssist
from casework.models.cases import Attachment, Case, CaseEvent, CaseLink, Escalation, Extension, Notification
from casework.models.counters import Counter, ScopeCounter
from casework.models.notices import NoticeChannel, NoticePreference, NoticeSubscription, OutboxMessage
from casework.models.people import Organisation, User, organisation_communities, user_buildings, user_grids
from casework.models.places import Building, Community, Grid, Subdistrict
from casework.models.volunteers import (
    Activity, Attendance, CaseHours, Gift, LedgerEntry, PartnerAgreement, PartnerPlan, Redemption, SignUp,
    TeamMembership, Volunteer, VolunteerProject, VolunteerRating, VolunteerTeam,
)
from casework.models.policy import STAGE_OF_STATUS, STAGES, Category, HolidayOverride, Setting, TimeLimit

__all__ = [
    "ApiKey", "ApiRequest", "api_key_communities", "AuditEntry", "CaseAssist", "STAGES", "STAGE_OF_STATUS", "Attachment", "Building", "Escalation", "Extension", "Setting", "TimeLimit", "Case", "CaseEvent", "CaseLink", "Category", "Community", "Counter", "Grid", "ScopeCounter",
    "HolidayOverride", "NoticeChannel", "NoticePreference", "NoticeSubscription", "Notification",
    "OutboxMessage", "Organisation", "Subdistrict", "User",
    "organisation_communities", "user_buildings", "user_grids",
    "Activity", "Attendance", "Gift", "LedgerEntry", "Redemption", "SignUp", "TeamMembership", "Volunteer",
    "VolunteerProject", "VolunteerRating", "VolunteerTeam", "CaseHours", "PartnerAgreement", "PartnerPlan",
]
