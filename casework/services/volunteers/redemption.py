"""Gift redemption at the service station: points leave the balance and the stock drops together.

Both are conditional UPDATEs in one transaction (stock >= n, points >= cost): when two redemptions
race, the second waits for the first's row lock and then finds too little, so neither goes negative.
"""
from __future__ import annotations

import logging

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from casework.extensions import db
from casework.models import Gift, Redemption, User, Volunteer
from casework.services.errors import Invalid, NotFound, Refused
from casework.services.volunteers import ledger
from casework.timekeeping import now

log = logging.getLogger(__name__)
QUANTITY_MAX = 20


def catalogue(community_id: int | None) -> list[Gift]:
    query = select(Gift).where(Gift.active.is_(True)).order_by(Gift.points_cost, Gift.id)
    if community_id:
        query = query.where((Gift.community_id == community_id) | Gift.community_id.is_(None))
    return list(db.session.scalars(query))


def redeem(actor: User, volunteer: Volunteer, gift_id: int | None, quantity: int | None) -> Redemption:
    """Hand out `quantity` of a gift: refused (409) over balance or over stock, with nothing changed."""
    gift = db.session.get(Gift, gift_id) if gift_id else None
    if gift is None or not gift.active:
        raise NotFound(_l("找不到这件礼品。"))
    if quantity is None or not 1 <= quantity <= QUANTITY_MAX:
        raise Invalid(_l("数量应为 1 到 20。"), {"quantity": _l("数量应为 1 到 20。")})
    cost = gift.points_cost * quantity
    # A savepoint: if the points refuse after the stock moved, the stock goes back too.
    with db.session.begin_nested():
        stock = db.session.execute(
            update(Gift).where(Gift.id == gift.id, Gift.stock >= quantity).values(stock=Gift.stock - quantity)
            .returning(Gift.stock).execution_options(synchronize_session=False)).first()
        if stock is None:
            raise Refused(_l("库存不足，不能兑换。"))
        try:
            entry = ledger.post(volunteer, "points", "redeemed", -cost, reason=f"{gift.name} × {quantity}",
                                actor=actor)
        except Refused:
            raise Refused(_l("积分不足，不能兑换。")) from None
    db.session.expire(gift, ["stock"])
    receipt = Redemption(volunteer_id=volunteer.id, gift_id=gift.id, quantity=quantity, points=cost,
                         entry_id=entry.id, actor_id=actor.id, created_at=now())
    db.session.add(receipt)
    db.session.flush()
    log.info("user %s redeemed %d × gift %s for volunteer %s", actor.id, quantity, gift.id, volunteer.id)
    return receipt


def receipts(volunteer: Volunteer) -> list[Redemption]:
    return list(db.session.scalars(select(Redemption).where(Redemption.volunteer_id == volunteer.id)
                                   .order_by(Redemption.id.desc()).limit(20)))
