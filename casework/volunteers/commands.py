"""Volunteer commands on the `casework` group: flask --app wsgi casework ledger-verify."""
from __future__ import annotations

import click

from casework.services.volunteers import ledger


def register(group) -> None:
    """Add the volunteer commands to the `casework` command group."""

    @group.command("ledger-verify")
    def ledger_verify() -> None:
        """Prove every volunteer's kept hours and points balances equal the sums of their ledgers."""
        wrong = ledger.verify()
        for m in wrong:
            click.echo(f"volunteer {m.volunteer_id} {m.ledger}: balance {m.balance} but ledger sums to {m.total}")
        if wrong:
            raise click.ClickException(f"{len(wrong)} balance(s) differ from their ledgers")
        click.echo("ledgers verified: every balance equals the sum of its entries")

    @group.command("expire-points")
    @click.option("--as-of", "as_of", default=None, help="The day the expiry runs for, YYYY-MM-DD (default: today).")
    @click.option("--months", type=int, default=None,
                  help="Points expire this many months after they were earned (default: VOLUNTEER_POINTS_EXPIRE_MONTHS).")
    def expire_points(as_of: str | None, months: int | None) -> None:
        """Write expiry ledger rows for points earned too long ago and not yet used (running it again adds nothing)."""
        import datetime as dt

        from flask import current_app

        from casework.extensions import db
        from casework.services.errors import ServiceError
        from casework.services.volunteers import points
        from casework.timekeeping import now
        try:
            day = dt.date.fromisoformat(as_of) if as_of else now().date()
        except ValueError:
            raise click.ClickException("--as-of must be a date, e.g. 2026-12-31") from None
        months = current_app.config.get("VOLUNTEER_POINTS_EXPIRE_MONTHS", 0) if months is None else months
        if months < 0:
            raise click.ClickException("--months must be 0 (never) or more")
        try:
            result = points.expire(day, months)
        except ServiceError as exc:
            db.session.rollback()
            raise click.ClickException(str(exc.message)) from None
        db.session.commit()
        if result["cutoff"] is None:
            click.echo("points never expire (months = 0): nothing to do")
        else:
            click.echo(f"expired {result['points']} points of {result['volunteers']} volunteers "
                       f"(earned before {result['cutoff'].isoformat()})")


def register_rating(group) -> None:
    """Add `casework rate-volunteers` to the command group."""
    from casework.extensions import db
    from casework.services.errors import ServiceError
    from casework.services.volunteers import rating

    @group.command("rate-volunteers")
    @click.option("--period", required=True, help="The half-year, e.g. 2026H2 (must have ended).")
    @click.option("--preset", type=click.Choice(sorted(rating.PRESETS)), default="national",
                  help="national: cumulative 100/300/600/1000/1500 h; community: hours within the period.")
    @click.option("--thresholds", default=None, help="Five increasing hour thresholds, e.g. 10,20,40,60,100.")
    def rate_volunteers(period: str, preset: str, thresholds: str | None) -> None:
        """Compute the period's star ratings as drafts for review (running it again gives the same list)."""
        try:
            values = tuple(int(x) for x in thresholds.split(",")) if thresholds else None
        except ValueError:
            raise click.ClickException("thresholds must be five whole numbers, e.g. 10,20,40,60,100") from None
        try:
            result = rating.rate(period, preset, values)
        except ServiceError as exc:
            db.session.rollback()
            raise click.ClickException(str(exc.message)) from None
        db.session.commit()
        stars = ", ".join(f"{s}★ {n}" for s, n in result["by_stars"].items())
        click.echo(f"{result['period']} ({result['preset']}): {result['rated']} draft ratings ({stars}); "
                   f"{result['kept']} already published or confirmed kept")
