"""Command-line tools: `flask --app webui create-admin|create-token|seed-demo|deliver|purge-recordings`.

The database commands (`db upgrade`, ...) come from Flask-Migrate.
"""
from __future__ import annotations

import secrets
import sys

import click
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy import func, select

from callrec.models import AdminUser, ApiToken, db, ensure_singletons


def init_app(app: Flask) -> None:
    app.cli.add_command(create_admin)
    app.cli.add_command(create_token)
    app.cli.add_command(seed_demo)
    app.cli.add_command(deliver)
    app.cli.add_command(purge_recordings)


@click.command("create-admin")
@with_appcontext
@click.argument("name")
@click.option("--generate", is_flag=True, help="Generate a password instead of asking for one.")
@click.option("--if-none", is_flag=True, help="Do nothing when an admin user already exists.")
def create_admin(name: str, generate: bool, if_none: bool) -> None:
    """Create an admin user NAME; asks for a password, or generates one (printed once)."""
    if if_none and db.session.scalar(select(func.count()).select_from(AdminUser)):
        click.echo("An admin user exists already; nothing to do.")
        return
    if db.session.scalar(select(AdminUser).where(AdminUser.username == name)) is not None:
        raise click.ClickException(f"An admin user named {name!r} exists already.")
    if not generate and sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        generated = False
    else:
        password, generated = secrets.token_urlsafe(12), True
    if len(password) < 8:
        raise click.ClickException("The password must have at least 8 characters.")
    user = AdminUser(username=name)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    click.echo(f"Created admin user {name!r}.")
    if generated:
        click.echo(f"One-time password for {name}: {password}")
        click.echo("It is shown only now; log in at /login and keep it safe.")


@click.command("create-token")
@with_appcontext
@click.argument("name")
def create_token(name: str) -> None:
    """Create an API token NAME and print it (the last line of the output; only its hash is stored)."""
    row, token = ApiToken.issue(name)
    db.session.add(row)
    db.session.commit()
    click.echo(f"Created API token {name!r}; use it as 'Authorization: Bearer <token>'. It is shown only once:")
    click.echo(token)


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
    """Delete the recordings older than the settings' retention period (for cron; the controller does it too)."""
    from flask import current_app

    from callrec.retention import purge_expired

    total = 0
    while True:  # in batches, so a large backlog never holds one long transaction
        deleted = purge_expired(db.session, current_app.config["RECORDINGS_DIR"])
        total += deleted
        if deleted == 0:
            break
    click.echo(f"Retention: {total} recording(s) deleted.")
