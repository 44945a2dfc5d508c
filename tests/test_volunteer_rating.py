"""Half-year star ratings: `casework rate-volunteers --period 2026H1` is idempotent, follows the
presets, and refuses a period that has not ended (changing nothing)."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from sqlalchemy import func, select


from conftest import CN
from casework.extensions import db
from casework.models import VolunteerRating
from casework.services.volunteers import ledger, rating
from volunteer_steps import register, staff


def served(v, hours: int, on: dt.datetime) -> None:
    """Confirmed hours posted on a given day (hours ledger, in chunks a single entry allows)."""
    with time_machine.travel(on.replace(tzinfo=CN), tick=False):
        left = hours * 60
        while left:
            chunk = min(left, ledger.MAX_AMOUNT["hours"])
            ledger.post(v, "hours", "earned", chunk, reason="活动", actor=staff("hehuo01"))
            left -= chunk
    db.session.commit()


def run(app, *args):
    return app.test_cli_runner().invoke(args=["casework", "rate-volunteers", *args])


def ratings() -> dict:
    return {(r.volunteer_id, r.period): (r.stars, r.hours_minutes, r.preset)
            for r in db.session.scalars(select(VolunteerRating))}


def test_national_preset_counts_cumulative_hours_and_reruns_give_the_same_list(app, session, login_as):
    client = login_as()
    a = register(client, mobile="13900000011", name="甲")
    b = register(client, mobile="13900000012", name="乙")
    c = register(client, mobile="13900000013", name="丙")
    served(a, 80, dt.datetime(2025, 11, 1, 10))   # before the period: counts in the cumulative preset
    served(a, 40, dt.datetime(2026, 3, 1, 10))    # 120 h → 1 star
    served(b, 320, dt.datetime(2026, 5, 1, 10))   # 320 h → 2 stars
    served(c, 50, dt.datetime(2026, 6, 1, 10))    # 50 h → none
    served(c, 500, dt.datetime(2026, 7, 2, 10))   # after H1: not counted for H1
    result = run(app, "--period", "2026H1")
    assert result.exit_code == 0, result.output
    assert "2 draft ratings" in result.output
    first = ratings()
    assert first == {(a.id, "2026H1"): (1, 120 * 60, "national"), (b.id, "2026H1"): (2, 320 * 60, "national")}
    again = run(app, "--period", "2026h1")
    assert again.exit_code == 0 and ratings() == first  # idempotent


def test_community_preset_counts_hours_within_the_period(app, session, login_as):
    v = register(login_as())
    served(v, 80, dt.datetime(2025, 11, 1, 10))
    served(v, 25, dt.datetime(2026, 2, 1, 10))
    assert run(app, "--period", "2026H1", "--preset", "community").exit_code == 0
    assert ratings() == {(v.id, "2026H1"): (2, 25 * 60, "community")}  # 10 and 20 h passed


@pytest.mark.parametrize("args,message", [
    (["--period", "2026H2"], "评定周期尚未结束"),
    (["--period", "2026H3"], "评定周期的格式应为"),
    (["--period", "2026H1", "--thresholds", "5,4,3,2,1"], "星级门槛应为 5 个递增的正数"),
    (["--period", "2026H1", "--thresholds", "a,b"], "thresholds must be five whole numbers"),
])
def test_bad_rating_runs_change_nothing(app, session, args, message, login_as):
    v = register(login_as())
    served(v, 200, dt.datetime(2026, 3, 1, 10))
    result = run(app, *args)
    assert result.exit_code == 1 and message in result.output
    assert db.session.scalar(select(func.count()).select_from(VolunteerRating)) == 0


def test_published_ratings_are_kept_by_a_rerun(app, session, login_as):
    v = register(login_as())
    served(v, 150, dt.datetime(2026, 3, 1, 10))
    assert run(app, "--period", "2026H1").exit_code == 0
    row = db.session.scalars(select(VolunteerRating)).one()
    row.status = "published"
    db.session.commit()
    served(v, 200, dt.datetime(2026, 4, 1, 10))
    assert "1 already published or confirmed kept" in run(app, "--period", "2026H1").output
    db.session.refresh(row)
    assert (row.stars, row.status) == (1, "published")


def test_periods_are_half_years():
    assert rating.parse_period("2026H2") == rating.Period("2026H2", dt.datetime(2026, 7, 1), dt.datetime(2027, 1, 1))
    assert rating.stars_for(1499.9, rating.PRESETS["national"]) == 4
    assert rating.stars_for(1500, rating.PRESETS["national"]) == 5


# Review, public notice, confirmation, certificates ---------------------------------------------

def test_notice_lasts_five_working_days(app, session):
    # Published on Monday 2026-11-30: Tue..Fri and the next Monday are the five working days.
    assert rating.notice_end(dt.datetime(2026, 11, 30, 15, 0)) == dt.datetime(2026, 12, 8)


def test_review_publish_notice_confirm_and_verify_a_certificate(app, session, login_as):
    client = login_as()
    v = register(client, name="张小志")
    served(v, 320, dt.datetime(2026, 3, 1, 10))
    assert run(app, "--period", "2026H1").exit_code == 0
    supervisor = login_as("shequ01")
    page = supervisor.get("/volunteers/ratings?period=2026H1")
    assert page.status_code == 200 and "张小志" in page.text and "★★" in page.text and "待审核" in page.text
    assert login_as("shequ02").get("/volunteers/ratings?period=2026H1").text.count("张小志") == 0
    assert login_as("wangge01").get("/volunteers/ratings?period=2026H1").status_code == 403
    assert login_as("hehuo01").get("/volunteers/ratings?period=2026H1").status_code == 403

    assert supervisor.post("/volunteers/ratings/2026H1/publish").status_code == 303
    row = db.session.scalars(select(VolunteerRating)).one()
    assert row.status == "published" and row.notice_ends_at == rating.notice_end(row.published_at)
    notice = client.get("/v/notice/2026H1")
    assert notice.status_code == 200 and "张*志" in notice.text and "张小志" not in notice.text

    early = supervisor.post("/volunteers/ratings/2026H1/confirm")
    assert early.status_code == 409 and "公示期未满" in early.text
    db.session.refresh(row)
    assert row.status == "published" and row.certificate_number is None

    after = row.notice_ends_at.replace(tzinfo=CN) + dt.timedelta(minutes=1)
    with time_machine.travel(after, tick=False):  # a week later: the supervisor's session has timed out
        assert login_as("shequ01").post("/volunteers/ratings/2026H1/confirm").status_code == 303
    db.session.refresh(row)
    assert row.status == "confirmed" and row.certificate_number == "VS-2026H1-000001"
    verified = client.get(f"/verify/{row.certificate_number}")
    assert verified.status_code == 200 and "证书有效" in verified.text and "张*志" in verified.text
    assert "★★" in verified.text and "张小志" not in verified.text
    fake = client.get("/verify/VS-2026H1-999999")
    assert fake.status_code == 404 and "证书无效" in fake.text
    card = client.get(f"/v/card/{v.card_code}").text
    assert "荣誉证书 2026H1 · 2 星" in card
    printable = client.get(f"/v/card/{v.card_code}/certificates/{row.certificate_number}")
    assert printable.status_code == 200 and "张小志" in printable.text and row.certificate_number in printable.text
    # Someone else's card cannot open it.
    other = register(client, mobile="13900007777", name="别人")
    assert client.get(f"/v/card/{other.card_code}/certificates/{row.certificate_number}").status_code == 404
    # A rerun keeps confirmed ratings.
    assert "1 already published or confirmed kept" in run(app, "--period", "2026H1").output


def test_publishing_with_nothing_to_publish_is_refused(app, session, login_as):
    response = login_as("shequ01").post("/volunteers/ratings/2026H1/publish")
    assert response.status_code == 409 and "没有待发布的评定结果" in response.text
    bad = login_as("shequ01").post("/volunteers/ratings/2026X9/publish")
    assert bad.status_code == 422 and "评定周期的格式应为" in bad.text
