"""Test helpers for the volunteer area: register through the real page, make activities through the
real service, and read the numbers a page shows."""
from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from casework.extensions import db
from casework.models import Activity, Community, User, Volunteer, VolunteerTeam
from casework.services.volunteers import activities
from casework.timekeeping import now
from case_steps import parse

CARD_RE = re.compile(r"/v/card/([0-9A-Z]{10})")


def community(name: str = "青松社区") -> Community:
    return db.session.scalars(select(Community).where(Community.name == name)).one()


def team(name: str = "邻里帮帮志愿维修队") -> VolunteerTeam:
    return db.session.scalars(select(VolunteerTeam).where(VolunteerTeam.name == name)).one()


def staff(username: str) -> User:
    return db.session.scalars(select(User).where(User.username == username)).one()


def registration(**over) -> dict:
    data = {"name": "李志愿", "mobile": "13900002222", "community_id": str(community().id),
            "skills": "水电维修", "availability": "周末", "consent": "1"}
    data.update(over)
    return data


def register(client, **over) -> Volunteer:
    """Register through the public page; the new volunteer (its card page opened)."""
    response = client.post("/v/register", registration(**over))
    assert response.status_code == 303, response.text[:500]
    code = CARD_RE.search(response.headers["Location"]).group(1)
    return db.session.scalars(select(Volunteer).where(Volunteer.card_code == code)).one()


def make_activity(*, status: str = "open", capacity: int = 10, starts_in: dt.timedelta = dt.timedelta(minutes=10),
                  length: dt.timedelta = dt.timedelta(hours=2), deadline_before_start: dt.timedelta = dt.timedelta(0),
                  points_per_hour: int = 10, title: str = "楼道清理", team_name: str = "邻里帮帮志愿维修队") -> Activity:
    """An activity of a team led by hehuo01, moved to `status`; times relative to the suite's clock."""
    start = now() + starts_in
    leader = staff("hehuo01")
    t = team(team_name)
    values = {"title": title, "team_id": str(t.id), "place": "青松社区党群服务中心",
              "starts_at": start.isoformat(), "ends_at": (start + length).isoformat(),
              "signup_deadline": (start - deadline_before_start).isoformat(),
              "capacity": str(capacity), "points_per_hour": str(points_per_hour)}
    activity = activities.create_activity(leader, values, [t])
    # Put it straight into the wanted state (the board's own moves are tested separately).
    activity.status = status
    db.session.commit()
    return activity


def sign_up(volunteer: Volunteer, activity: Activity) -> None:
    activities.sign_up(volunteer, activity)
    db.session.commit()


def last4(volunteer: Volunteer) -> str:
    return volunteer.mobile[-4:]


def number(html: str, element_id: str) -> str:
    """The text of the element with this id (e.g. the points on the card page)."""
    element = parse(html).find(id=element_id)
    assert element is not None, element_id
    return element.text
