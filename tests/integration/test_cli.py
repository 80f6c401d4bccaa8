"""Command-line tools: create-admin, create-token, seed-demo, db upgrade."""
from __future__ import annotations

from sqlalchemy import func, select

from callrec.models import Account, AdminUser, ApiToken, db


def test_create_token_prints_a_working_token_as_the_last_line(runner, client):
    result = runner.invoke(args=["create-token", "billing"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert client.get("/api/v1/accounts", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_create_admin_generates_a_password_shown_once_and_stores_only_a_hash(app, runner):
    result = runner.invoke(args=["create-admin", "root", "--generate"])
    assert result.exit_code == 0, result.output
    password = result.output.split("One-time password for root: ")[1].split()[0]
    with app.app_context():
        user = db.session.scalar(select(AdminUser).where(AdminUser.username == "root"))
        assert password not in user.password_hash
        assert user.check_password(password)


def test_create_admin_if_none_does_nothing_when_an_admin_exists(app, runner):
    runner.invoke(args=["create-admin", "first", "--generate"])
    result = runner.invoke(args=["create-admin", "second", "--generate", "--if-none"])
    assert result.exit_code == 0 and "nothing to do" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AdminUser)) == 1


def test_create_admin_refuses_a_duplicate_name(runner):
    runner.invoke(args=["create-admin", "root", "--generate"])
    result = runner.invoke(args=["create-admin", "root", "--generate"])
    assert result.exit_code != 0 and "exists already" in result.output


def test_seed_demo_is_idempotent(app, runner):
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    assert runner.invoke(args=["seed-demo"]).output.startswith("Demo data ready (0 objects")
    with app.app_context():
        numbers = set(db.session.scalars(select(Account.number)))
    assert numbers == {"1000", "1001", "1002", "1003"}


def test_tokens_table_holds_no_clear_token(app, runner):
    token = runner.invoke(args=["create-token", "x"]).output.strip().splitlines()[-1]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ApiToken).where(ApiToken.token_hash == token)) == 0
