"""Command line: flask --app wsgi casework demo | create-user | ..."""
from __future__ import annotations

import time

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import func, select

from casework.extensions import db
from casework.models import Community, Organisation, User
from casework.models.people import ROLES

casework_cli = AppGroup("casework", help="Casework administration.")


@casework_cli.command("demo")
@click.option("--cases", "count", type=int, default=None, help="Only add N generated cases (for benchmarks).")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
def demo(count: int | None, if_empty: bool) -> None:
    """Load the demo subdistrict, accounts (password: demo) and cases."""
    from casework.services import demo as demo_service
    has_users = db.session.scalar(select(func.count()).select_from(User))
    started = time.perf_counter()
    if count is not None and has_users:
        n = demo_service.generate_cases(count, seed=int(time.time()))
        db.session.commit()
        click.echo(f"added {n} cases in {time.perf_counter() - started:.1f} s")
        return
    if has_users:
        if if_empty:
            click.echo("database already has data; demo not loaded")
            return
        raise click.ClickException("the database already has users; use --cases N to add cases")
    demo_service.load_demo(cases=count if count is not None else 360)
    db.session.commit()
    click.echo(f"demo loaded in {time.perf_counter() - started:.1f} s; accounts use password 'demo'")


@casework_cli.command("create-user")
@click.argument("username")
@click.option("--name", default=None, help="Display name.")
@click.option("--role", type=click.Choice(ROLES), default="admin")
@click.option("--organisation", default=None, help="Organisation name (handlers).")
@click.option("--community", default=None, help="Community name (community supervisors).")
@click.password_option()
def create_user(username, name, role, organisation, community, password) -> None:
    """Create a user account."""
    if db.session.scalar(select(User.id).where(User.username == username)):
        raise click.ClickException(f"user {username} exists")
    user = User(username=username, display_name=name or username, role=role)
    if organisation:
        user.organisation = db.session.scalars(select(Organisation).where(Organisation.name == organisation)).first()
        if user.organisation is None:
            raise click.ClickException(f"no organisation named {organisation}")
    if community:
        user.community = db.session.scalars(select(Community).where(Community.name == community)).first()
        if user.community is None:
            raise click.ClickException(f"no community named {community}")
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    click.echo(f"created {role} {username}")


@casework_cli.command("purge")
@click.option("--days", type=int, default=None, help="Retention in days (default: RETENTION_DAYS).")
def purge(days: int | None) -> None:
    """Erase reporters' names, numbers and report photos from cases closed longer ago than the retention period."""
    from flask import current_app

    from casework.services import residents
    days = current_app.config["RETENTION_DAYS"] if days is None else days
    if days < 0:
        raise click.BadParameter("must not be negative", param_hint="--days")
    purged = residents.purge_personal_data(days)
    db.session.commit()  # the photo files are deleted once this succeeds
    click.echo(f"erased personal data from {purged.cases} case(s) closed more than {days} days ago: "
               f"reporter name and phone, {purged.photos} resident photo(s)")


@casework_cli.command("sweep")
def sweep_command() -> None:
    """Turn lateness into warnings, urges and supervision notices (idempotent; run from cron)."""
    from casework.services.escalation import sweep
    counts = sweep()
    db.session.commit()
    click.echo(" ".join(f"{k}={v}" for k, v in counts.items()))


@casework_cli.command("rebuild-tallies")
def rebuild_tallies() -> None:
    """Recount the dashboard's summary tables from the cases and their timelines (repair, or after import)."""
    from casework.services import tallies
    started = time.perf_counter()
    tallies.backfill_response()
    tallies.rebuild()
    db.session.commit()
    click.echo(f"tallies rebuilt in {time.perf_counter() - started:.1f} s")


def register_cli(app: Flask) -> None:
    from casework.volunteers import commands as volunteer_commands
    if "ledger-verify" not in casework_cli.commands:
        volunteer_commands.register(casework_cli)
        volunteer_commands.register_rating(casework_cli)
    app.cli.add_command(casework_cli)
