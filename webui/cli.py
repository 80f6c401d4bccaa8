"""Command-line tools: `flask --app webui create-admin|reset-password|create-token|list-tokens|revoke-token|...`.

The database commands (`db upgrade`, ...) come from Flask-Migrate.
"""
from __future__ import annotations

import secrets
import sys

import click
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy import func, select

from callrec import audit, services
from callrec.errors import CallrecError
from callrec.models import ROLES, TOKEN_SCOPES, AdminUser, ApiToken, db, ensure_singletons, utcnow


def _cli_actor() -> None:
    """What the command line changes is audited as 'cli <login name>'."""
    import getpass

    try:
        who = getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (a container)
        who = "unknown"
    audit.act_as(audit.Actor(f"cli {who}"))


def init_app(app: Flask) -> None:
    app.cli.add_command(create_admin)
    app.cli.add_command(create_token)
    app.cli.add_command(list_tokens)
    app.cli.add_command(revoke_token)
    app.cli.add_command(reset_password)
    app.cli.add_command(seed_demo)
    app.cli.add_command(deliver)
    app.cli.add_command(purge_recordings)


@click.command("create-admin")
@with_appcontext
@click.argument("name")
@click.option("--generate", is_flag=True, help="Generate a password instead of asking for one.")
@click.option("--if-none", is_flag=True, help="Do nothing when an admin user already exists.")
@click.option("--role", type=click.Choice(ROLES), default="admin", show_default=True,
              help="admin: may change everything; auditor: sees everything, changes nothing.")
def create_admin(name: str, generate: bool, if_none: bool, role: str) -> None:
    """Create an admin user NAME; asks for a password, or generates one (printed once)."""
    if if_none and db.session.scalar(select(func.count()).select_from(AdminUser)):
        click.echo("An admin user exists already; nothing to do.")
        return
    if db.session.scalar(select(AdminUser).where(AdminUser.username == name)) is not None:
        raise click.ClickException(f"An admin user named {name!r} exists already.")
    password, generated = _new_password(generate)
    _cli_actor()
    try:
        services.create_user(name, password, role)
    except CallrecError as exc:
        raise click.ClickException(f"{exc.message} {exc.fields}") from None
    click.echo(f"Created {'admin user' if role == 'admin' else role} {name!r}.")
    if generated:
        click.echo(f"One-time password for {name}: {password}")
        click.echo("It is shown only now; log in at /login and keep it safe.")


def _new_password(generate: bool) -> tuple[str, bool]:
    """Ask for a password (twice) on a terminal, or generate one; return it and whether it was generated."""
    if not generate and sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        generated = False
    else:
        password, generated = secrets.token_urlsafe(12), True
    if len(password) < 8:
        raise click.ClickException("The password must have at least 8 characters.")
    return password, generated


@click.command("reset-password")
@with_appcontext
@click.argument("name")
@click.option("--generate", is_flag=True, help="Generate a password instead of asking for one.")
def reset_password(name: str, generate: bool) -> None:
    """Set a new password for admin user NAME; ends every session of that user."""
    user = db.session.scalar(select(AdminUser).where(AdminUser.username == name))
    if user is None:
        raise click.ClickException(f"No admin user named {name!r}.")
    password, generated = _new_password(generate)
    _cli_actor()
    services.update_user(user, password=password)  # also replaces the session token: the user's sessions end
    click.echo(f"New password set for {name!r}; their sessions have ended.")
    if generated:
        click.echo(f"One-time password for {name}: {password}")


@click.command("create-token")
@with_appcontext
@click.argument("name")
@click.option("--scope", type=click.Choice(TOKEN_SCOPES), default="write", show_default=True,
              help="read: GET only (a write gets 403); write: read and change.")
@click.option("--expires-in-days", type=click.IntRange(0, 3650), default=365, show_default=True,
              help="Lifetime in days; 0: never expires.")
def create_token(name: str, scope: str, expires_in_days: int) -> None:
    """Create an API token NAME and print it (the last line of the output; only its hash is stored)."""
    _cli_actor()
    try:
        row, token = services.create_token(name, scope, expires_in_days or None)
    except CallrecError as exc:
        raise click.ClickException(f"{exc.message} {exc.fields}") from None
    expiry = row.expires_at.strftime("%Y-%m-%d %H:%M UTC") if row.expires_at else "never"
    click.echo(f"Created API token {name!r} (scope {scope}, expires {expiry}); use it as "
               "'Authorization: Bearer <token>'. It is shown only once:")
    click.echo(token)


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "never"


@click.command("list-tokens")
@with_appcontext
def list_tokens() -> None:
    """List the API tokens: id, name, scope, created, expires, last used (never the tokens, which are not stored)."""
    rows = db.session.scalars(select(ApiToken).order_by(ApiToken.id)).all()
    if not rows:
        click.echo("No API tokens.")
        return
    now = utcnow()
    click.echo(f"{'id':>5}  {'name':<24} {'scope':<6} {'created (UTC)':<20} {'expires (UTC)':<28} last used (UTC)")
    for row in rows:
        expires = _when(row.expires_at) + (" (expired)" if row.expired(now) else "")
        click.echo(f"{row.id:>5}  {row.name:<24} {row.scope:<6} {_when(row.created_at):<20} {expires:<28} "
                   f"{_when(row.last_used_at)}")


@click.command("revoke-token")
@with_appcontext
@click.argument("token_id", type=int)
def revoke_token(token_id: int) -> None:
    """Revoke (delete) the API token with id TOKEN_ID (see list-tokens); it stops working at once."""
    row = db.session.get(ApiToken, token_id) if 1 <= token_id <= 2**31 - 1 else None
    if row is None:
        raise click.ClickException(f"No API token with id {token_id}.")
    _cli_actor()
    services.revoke_token(row)
    click.echo(f"Revoked API token {token_id} ({row.name!r}).")


@click.command("seed-demo")
@with_appcontext
def seed_demo() -> None:
    """Create the demo customers, products and accounts (idempotent)."""
    from callrec.demo import seed

    ensure_singletons()
    created = seed()
    click.echo(f"Demo data ready ({created} objects created).")


@click.command("deliver")
@with_appcontext
@click.option("--limit", default=500, show_default=True, help="Send at most this many emails in this run.")
def deliver(limit: int) -> None:
    """Send the pending recording emails once and print a summary (for cron, when no controller runs)."""
    from flask import current_app

    from callrec.delivery import DeliveryWorker
    from callrec.delivery.worker import default_owner

    summary = DeliveryWorker(current_app._get_current_object(), owner=f"cli:{default_owner()}").run_once(limit)
    for error in summary.errors:
        click.echo(error)
    click.echo(f"Delivery: {summary}.")


@click.command("purge-recordings")
@with_appcontext
def purge_recordings() -> None:
    """Delete the recordings older than the settings' retention period, and audit events older than theirs
    (for cron; the controller does it too)."""
    from flask import current_app

    from callrec.retention import purge_expired

    total = 0
    while True:  # in batches, so a large backlog never holds one long transaction
        deleted = purge_expired(db.session, current_app.config["RECORDINGS_DIR"])
        total += deleted
        if deleted == 0:
            break
    from callrec.audit import purge_expired as purge_audit

    events = 0
    while (deleted := purge_audit(db.session)):
        events += deleted
    click.echo(f"Retention: {total} recording(s) deleted.")
    click.echo(f"Audit trail: {events} event(s) older than its retention deleted.")
