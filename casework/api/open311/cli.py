"""`flask casework api-key create|revoke|list`: keys for client systems from the command line."""
from __future__ import annotations

import datetime as dt

import click
from flask.cli import AppGroup
from sqlalchemy import select

from casework.extensions import db
from casework.models import Community
from casework.services import apikeys
from casework.services.errors import Invalid, NotFound

api_key_cli = AppGroup("api-key", help="Open311 API keys for client systems.")


@api_key_cli.command("create")
@click.argument("name")
@click.option("--community", "communities", multiple=True, help="Community name (repeat); omit with --all.")
@click.option("--all", "all_communities", is_flag=True, help="Every community of the subdistrict.")
@click.option("--write", is_flag=True, help="May create requests (default: read only).")
@click.option("--expires", default=None, help="Last valid day, YYYY-MM-DD (default: no expiry).")
def create(name, communities, all_communities, write, expires) -> None:
    """Issue a key and print it once (only its hash is stored)."""
    ids = []
    for cname in communities:
        cid = db.session.scalar(select(Community.id).where(Community.name == cname))
        if cid is None:
            raise click.ClickException(f"no community named {cname}")
        ids.append(cid)
    expires_at = None
    if expires:
        try:
            expires_at = dt.datetime.combine(dt.date.fromisoformat(expires) + dt.timedelta(days=1), dt.time())
        except ValueError:
            raise click.BadParameter("use YYYY-MM-DD", param_hint="--expires") from None
    try:
        issued = apikeys.issue_key(None, name=name, community_ids=ids, all_communities=all_communities,
                                   can_write=write, expires_at=expires_at, address="cli")
    except Invalid as exc:
        raise click.ClickException("; ".join(f"{k}: {v}" for k, v in exc.errors.items())) from None
    db.session.commit()
    click.echo(f"key for {name} ({'read+write' if write else 'read only'}); shown once, store it now:")
    click.echo(issued.plaintext)


@api_key_cli.command("revoke")
@click.argument("prefix")
def revoke(prefix) -> None:
    """Revoke the key with this prefix (the 8 characters after cw311_)."""
    try:
        key = apikeys.revoke_key(None, prefix=prefix, address="cli")
    except NotFound:
        raise click.ClickException(f"no key with prefix {prefix}") from None
    db.session.commit()
    click.echo(f"revoked {key.name} ({key.prefix})")


@api_key_cli.command("list")
def list_keys() -> None:
    """Every key with its scope, last use and state."""
    for key in apikeys.list_keys():
        scope = "all" if key.all_communities else ",".join(c.name for c in key.communities)
        state = "revoked" if key.revoked_at else "active"
        click.echo(f"{key.prefix}  {key.name}  {'rw' if key.can_write else 'r'}  {scope}  "
                   f"expires={key.expires_at or '-'}  last_used={key.last_used_at or '-'}  {state}")
