"""Demo volunteer teams, projects and a gift catalogue (no volunteers: they register themselves)."""
from __future__ import annotations

from sqlalchemy import select

from casework.extensions import db
from casework.models import Community, Gift, Organisation, User, VolunteerProject, VolunteerTeam


def load_volunteer_demo() -> None:
    """Two teams of 青松社区 (one led by the repair team's captain hehuo01), projects and gifts."""
    qingsong = db.session.scalars(select(Community).where(Community.name == "青松社区")).one()
    xipan = db.session.scalars(select(Community).where(Community.name == "溪畔社区")).one()
    repair_org = db.session.scalars(select(Organisation).where(Organisation.kind == "volunteer_team")).first()
    captain = db.session.scalars(select(User).where(User.username == "hehuo01")).first()
    db.session.add_all([
        VolunteerTeam(name="邻里帮帮志愿维修队", community=qingsong, organisation=repair_org, leader_user=captain),
        VolunteerTeam(name="青松社区巾帼志愿服务队", community=qingsong),
        VolunteerTeam(name="溪畔社区红色先锋志愿服务队", community=xipan),
        VolunteerProject(name="家长课堂", community_id=qingsong.id),
        VolunteerProject(name="邻里帮帮", community_id=qingsong.id),
        Gift(name="洗衣液", community_id=qingsong.id, points_cost=50, stock=20),
        Gift(name="大米 5 kg", community_id=qingsong.id, points_cost=200, stock=5),
        Gift(name="毛巾", community_id=xipan.id, points_cost=30, stock=30),
    ])
    db.session.flush()
