"""admin_user.session_token: sessions end server-side on logout and password change

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 10:00:00

"""
import secrets

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('admin_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_token', sa.String(length=64), nullable=True))
    # Every existing user gets its own random token (which also ends the sessions issued before this change).
    conn = op.get_bind()
    users = sa.table('admin_user', sa.column('id', sa.Integer), sa.column('session_token', sa.String))
    for (user_id,) in conn.execute(sa.select(users.c.id)).all():
        conn.execute(users.update().where(users.c.id == user_id).values(session_token=secrets.token_hex(32)))
    with op.batch_alter_table('admin_user', schema=None) as batch_op:
        batch_op.alter_column('session_token', existing_type=sa.String(length=64), nullable=False)


def downgrade():
    with op.batch_alter_table('admin_user', schema=None) as batch_op:
        batch_op.drop_column('session_token')
