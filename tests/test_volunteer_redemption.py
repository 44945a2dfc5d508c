"""Gift redemption at the service station: points and stock drop together or not at all, also when
two redemptions race on PostgreSQL."""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import delete, func, select


from casework.extensions import db
from casework.models import Gift, LedgerEntry, Redemption, TeamMembership, User, Volunteer
from casework.services.errors import Refused
from casework.services.volunteers import ledger, redemption, registry
from volunteer_steps import community, number, register, staff


def gift(name: str) -> Gift:
    return db.session.scalars(select(Gift).where(Gift.name == name)).one()


def with_points(client, points: int, **over) -> Volunteer:
    v = register(client, **over)
    ledger.adjust(staff("shequ01"), v, "points", points, "活动积分补录")
    db.session.commit()
    return v


def test_station_redeems_a_gift_and_the_receipt_shows_on_the_card(app, session, login_as):
    client = login_as()
    v = with_points(client, 120)
    soap = gift("洗衣液")
    stock = soap.stock
    station = login_as("shequ01")
    page = station.get(f"/volunteers/people/{v.card_code}")
    assert page.status_code == 200 and "洗衣液" in page.text and "139****2222" in page.text
    assert station.post(f"/volunteers/people/{v.card_code}/redeem", {"gift_id": soap.id, "quantity": "2"}).status_code == 303
    db.session.refresh(v)
    db.session.refresh(soap)
    assert (v.points, soap.stock) == (20, stock - 2)
    receipt = db.session.scalars(select(Redemption)).one()
    assert (receipt.quantity, receipt.points) == (2, 100)
    entry = db.session.get(LedgerEntry, receipt.entry_id)
    assert (entry.kind, entry.amount, entry.balance_after) == ("redeemed", -100, 20)
    card = client.get(f"/v/card/{v.card_code}").text
    assert "洗衣液 × 2" in card and number(card, "points") == "20"
    assert app.test_cli_runner().invoke(args=["casework", "ledger-verify"]).exit_code == 0


@pytest.mark.parametrize("gift_name,quantity,points,status,message", [
    ("洗衣液", "3", 120, 409, "积分不足"),        # 150 points wanted, 120 held
    ("大米 5 kg", "6", 5000, 409, "库存不足"),     # 6 wanted, 5 in stock
    ("洗衣液", "0", 120, 422, "数量应为 1 到 20"),
    ("洗衣液", "-1", 120, 422, "数量应为 1 到 20"),
])
def test_redemption_over_balance_or_stock_changes_nothing(app, session, gift_name, quantity, points, status, message, login_as):
    v = with_points(login_as(), points)
    item = gift(gift_name)
    stock = item.stock
    entries = db.session.scalar(select(func.count()).select_from(LedgerEntry))
    response = login_as("shequ01").post(f"/volunteers/people/{v.card_code}/redeem",
                                            {"gift_id": item.id, "quantity": quantity})
    assert response.status_code == status and message in response.text
    db.session.refresh(v)
    db.session.refresh(item)
    assert (v.points, item.stock) == (points, stock)
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == entries
    assert db.session.scalar(select(func.count()).select_from(Redemption)) == 0


def test_station_is_the_supervisors_of_the_volunteers_community(app, session, login_as):
    v = register(login_as())
    assert login_as("shequ02").get(f"/volunteers/people/{v.card_code}").status_code == 404
    assert login_as("hehuo01").get(f"/volunteers/people/{v.card_code}").status_code == 404
    assert login_as("jiedao").get(f"/volunteers/people/{v.card_code}").status_code == 200


# The race: two transactions on two connections, the second blocked by the first's row lock ------

@pytest.mark.parametrize("what", ["balance", "stock"])
def test_two_racing_redemptions_cannot_overdraw_on_postgresql(app, what):
    if app.backend != "postgresql":
        pytest.skip("the race needs row locks (PostgreSQL); SQLite serialises writers")
    with app.app_context():
        qingsong = community().id
        actor_id = staff("shequ01").id
        people = []
        for i in range(2):
            v = registry.register({"name": f"竞争{i}", "mobile": f"1370000000{i}", "community_id": qingsong,
                                   "consent": True})
            db.session.flush()
            people.append(v)
        item = Gift(name="竞赛礼品", community_id=qingsong, points_cost=60, stock=1 if what == "stock" else 5)
        db.session.add(item)
        db.session.flush()
        for v in people:
            ledger.adjust(staff("shequ01"), v, "points", 100 if what == "balance" else 500, "比赛")
        db.session.commit()
        person_ids = [v.id for v in people]
        ids = person_ids if what == "stock" else [person_ids[0], person_ids[0]]
        gift_id = item.id
    a_done, b_started = threading.Event(), threading.Event()
    results: dict = {}

    def redeem(name: str, volunteer_id: int):
        with app.app_context():
            actor = db.session.get(User, actor_id)
            v = db.session.get(Volunteer, volunteer_id)
            if name == "b":
                a_done.wait(10)
                b_started.set()
            started = time.perf_counter()
            try:
                redemption.redeem(actor, v, gift_id, 1)
                if name == "a":
                    a_done.set()
                    b_started.wait(10)
                    time.sleep(0.6)  # B is now blocked on A's row lock
                db.session.commit()
                results[name] = ("ok", time.perf_counter() - started)
            except Refused as exc:
                db.session.rollback()
                results[name] = (str(exc.message), time.perf_counter() - started)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=redeem, args=("a", ids[0])), threading.Thread(target=redeem, args=("b", ids[1]))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert results["a"][0] == "ok"
        assert results["b"][0] == ("积分不足，不能兑换。" if what == "balance" else "库存不足，不能兑换。")
        assert results["b"][1] > 0.4  # B really waited for A's transaction
        with app.app_context():
            item = db.session.get(Gift, gift_id)
            assert item.stock == (0 if what == "stock" else 4)
            balances = sorted(db.session.get(Volunteer, i).points for i in set(ids))
            assert balances == ([40] if what == "balance" else [440, 500])
            assert db.session.scalar(select(func.count()).select_from(Redemption)
                                     .where(Redemption.gift_id == gift_id)) == 1
            assert ledger.verify() == []
    finally:
        with app.app_context():
            db.session.execute(delete(Redemption).where(Redemption.gift_id == gift_id))
            all_ids = person_ids
            db.session.execute(delete(LedgerEntry).where(LedgerEntry.volunteer_id.in_(all_ids)))
            db.session.execute(delete(TeamMembership).where(TeamMembership.volunteer_id.in_(all_ids)))
            db.session.execute(delete(Volunteer).where(Volunteer.id.in_(all_ids)))
            db.session.execute(delete(Gift).where(Gift.id == gift_id))
            db.session.commit()
            db.session.remove()

