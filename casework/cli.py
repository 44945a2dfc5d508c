"""Command line: flask --app wsgi casework demo | create-user | ..."""
from __future__ import annotations

import time
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import func, or_, select

from casework.extensions import db
from casework.models import Building, Community, Grid, Organisation, User
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
@click.option("--organisation", default=None, help="Organisation code or name (handlers).")
@click.option("--community", default=None, help="Community code or name (community supervisors).")
@click.option("--grid", "grids", multiple=True, help="Grid code a grid member serves (repeat for several).")
@click.option("--building", "buildings", multiple=True, help="Building code a building leader serves (repeat).")
@click.password_option()
def create_user(username, name, role, organisation, community, grids, buildings, password) -> None:
    """Create a user account (the first admin, or staff bound to their grids / buildings by code)."""
    if db.session.scalar(select(User.id).where(User.username == username)):
        raise click.ClickException(f"user {username} exists")
    user = User(username=username, display_name=name or username, role=role)
    if organisation:
        user.organisation = db.session.scalars(select(Organisation).where(
            or_(Organisation.code == organisation, Organisation.name == organisation))).first()
        if user.organisation is None:
            raise click.ClickException(f"no organisation with code or name {organisation}")
    if community:
        user.community = db.session.scalars(select(Community).where(
            or_(Community.code == community, Community.name == community))).first()
        if user.community is None:
            raise click.ClickException(f"no community with code or name {community}")
    for code in grids:
        grid = db.session.scalars(select(Grid).where(Grid.code == code)).first()
        if grid is None:
            raise click.ClickException(f"no grid with code {code}")
        user.grids.append(grid)
    for code in buildings:
        building = db.session.scalars(select(Building).where(Building.code == code)).first()
        if building is None:
            raise click.ClickException(f"no building with code {code}")
        user.buildings.append(building)
    needs = {"grid_staff": (user.grids, "--grid"), "building_leader": (user.buildings, "--building"),
             "handler": (user.organisation, "--organisation"), "community_supervisor": (user.community, "--community")}
    if role in needs and not needs[role][0]:
        raise click.ClickException(f"a {role} needs {needs[role][1]}")
    from casework.services import passwords
    found = passwords.problems(password, user)
    if found:
        raise click.ClickException("password refused: " + " ".join(found))
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    click.echo(f"created {role} {username}")


@casework_cli.command("init-categories")
def init_categories() -> None:
    """Add the standard case categories (环境卫生, 设施维修, …) when there are none yet."""
    from casework.models import Category
    from casework.services.demo import CATEGORIES
    if db.session.scalar(select(func.count()).select_from(Category)):
        click.echo("categories exist; nothing added")
        return
    for code, zh, en, priority in CATEGORIES:
        db.session.add(Category(code=code, name_zh=zh, name_en=en, default_priority=priority))
    db.session.commit()
    click.echo(f"added {len(CATEGORIES)} categories")


@casework_cli.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--apply", "do_apply", is_flag=True, help="Carry out the plan (default: dry run only).")
@click.option("--codes", type=click.Path(dir_okay=False), default=None,
              help="Write new accounts' activation codes to this CSV file (default: print them).")
def import_command(files, do_apply, codes) -> None:
    """Check a structure workbook (or per-sheet CSV files) and show the plan; --apply carries it out."""
    from casework.services import importing
    from casework.services.errors import ServiceError
    started = time.perf_counter()
    try:
        sheets = importing.read_files([(f, Path(f).read_bytes()) for f in files])
    except ServiceError as exc:
        raise click.ClickException(str(exc.message)) from None
    plan = importing.build_plan(sheets)
    for issue in plan.errors:
        click.echo(f"error: {issue.sheet} row {issue.row} column {issue.column}: {issue.message}", err=True)
    if not plan.ok:
        raise click.ClickException(f"{len(plan.errors)} error(s); nothing imported")
    click.echo(f"plan: {importing.summary(plan.counts())}")
    if not do_apply:
        click.echo(f"dry run in {time.perf_counter() - started:.1f} s; add --apply to carry it out")
        return
    applied = importing.apply(None, plan)
    db.session.commit()
    click.echo(f"applied in {time.perf_counter() - started:.1f} s; {applied.moved_cases} open case(s) noted for moved buildings")
    if applied.slips:
        rows = [(s.area, s.username, s.name, s.role, s.code) for s in applied.slips]
        if codes:
            import csv
            with open(codes, "w", newline="", encoding="utf-8-sig") as fh:
                csv.writer(fh).writerows([("area", "username", "name", "role", "activation_code")] + rows)
            click.echo(f"{len(rows)} activation code(s) written to {codes} (valid 72 h; keep the file safe)")
        else:
            for row in rows:
                click.echo("\t".join(row))


@casework_cli.command("export")
@click.argument("file", type=click.Path(dir_okay=False))
def export_command(file) -> None:
    """Write the current structure as a workbook in the import format."""
    from casework.services import importing
    data = importing.export_workbook()
    importing.record_export(None, "workbook")
    db.session.commit()
    with open(file, "wb") as fh:
        fh.write(data)
    click.echo(f"structure written to {file}")


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


@casework_cli.command("deliver")
@click.option("--once", is_flag=True, help="Deliver what is due now and exit (for cron).")
@click.option("--batch", type=int, default=100, show_default=True, help="Messages claimed at a time.")
@click.option("--lease", type=int, default=60, show_default=True,
              help="Seconds a claimed message stays this worker's; after a crash it is sent again.")
@click.option("--interval", type=float, default=2.0, show_default=True, help="Seconds to sleep when idle.")
@click.option("--retry-base", type=float, default=30.0, show_default=True, help="First retry delay in seconds.")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds to wait for a receiver.")
def deliver(once: bool, batch: int, lease: int, interval: float, retry_base: float, timeout: float) -> None:
    """Send the outbox's due notices to robots, mail, webhooks and SMS (a loop; --once for cron)."""
    import signal

    from casework.services.notices.worker import Settings, Worker
    worker = Worker(Settings(batch=batch, lease_seconds=lease, retry_base_seconds=retry_base,
                             timeout_seconds=timeout))
    if once:
        try:
            click.echo(f"deliver: {worker.run_once()}")
        finally:
            worker.close()
        return
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    click.echo(f"deliver: worker {worker.name} started")
    try:
        worker.loop(interval, should_stop=lambda: bool(stopping))
    except KeyboardInterrupt:
        pass
    finally:
        worker.close()
    click.echo("deliver: stopped")


@casework_cli.command("rebuild-tallies")
def rebuild_tallies() -> None:
    """Recount the dashboard's summary tables from the cases and their timelines (repair, or after import)."""
    from casework.services import tallies
    started = time.perf_counter()
    tallies.backfill_response()
    tallies.rebuild()
    db.session.commit()
    click.echo(f"tallies rebuilt in {time.perf_counter() - started:.1f} s")


@casework_cli.command("audit-verify")
def audit_verify() -> None:
    """Check the audit chain; name the first broken row (exit status 1) or say it is whole."""
    from casework.services.audit import first_broken
    broken = first_broken()
    if broken is not None:
        click.echo(f"audit chain broken at row {broken.id} ({broken.at_utc:%Y-%m-%d %H:%M:%S} UTC, {broken.action})")
        raise SystemExit(1)
    click.echo("audit chain intact")


def register_cli(app: Flask) -> None:
    from casework.api.open311.cli import api_key_cli
    casework_cli.add_command(api_key_cli)
    from casework.volunteers import commands as volunteer_commands
    if "ledger-verify" not in casework_cli.commands:
        volunteer_commands.register(casework_cli)
        volunteer_commands.register_rating(casework_cli)
    app.cli.add_command(casework_cli)
