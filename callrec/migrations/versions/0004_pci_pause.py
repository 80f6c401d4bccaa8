"""PCI pause: pause/resume codes on the settings and dialing rules, paused intervals on recordings

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 13:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    for table in ('settings', 'dialing_rule'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('record_pause_code', sa.String(length=8), server_default='',
                                          nullable=False))
            batch_op.add_column(sa.Column('record_resume_code', sa.String(length=8), server_default='',
                                          nullable=False))
    with op.batch_alter_table('recording', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paused_intervals', sa.JSON(), server_default='[]', nullable=False))


def downgrade():
    with op.batch_alter_table('recording', schema=None) as batch_op:
        batch_op.drop_column('paused_intervals')
    for table in ('dialing_rule', 'settings'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('record_resume_code')
            batch_op.drop_column('record_pause_code')
