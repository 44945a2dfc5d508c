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
