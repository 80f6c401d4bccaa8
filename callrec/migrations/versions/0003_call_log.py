"""call_log: every leg of every account the controller saw, with its decision and reason (issue 12)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 13:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('call_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_key', sa.String(length=64), nullable=False),
    sa.Column('leg_uuid', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('account_number', sa.String(length=64), nullable=False),
    sa.Column('direction', sa.String(length=16), nullable=False),
    sa.Column('caller', sa.String(length=255), nullable=False),
    sa.Column('callee', sa.String(length=255), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('reason_code', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_call_log_account_id_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_log'))
    )
    with op.batch_alter_table('call_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_call_log_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_log_account_number'), ['account_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_log_call_key'), ['call_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_log_decision'), ['decision'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_log_leg_uuid'), ['leg_uuid'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_log_started_at'), ['started_at'], unique=False)


def downgrade():
    with op.batch_alter_table('call_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_call_log_started_at'))
        batch_op.drop_index(batch_op.f('ix_call_log_leg_uuid'))
        batch_op.drop_index(batch_op.f('ix_call_log_decision'))
        batch_op.drop_index(batch_op.f('ix_call_log_call_key'))
        batch_op.drop_index(batch_op.f('ix_call_log_account_number'))
        batch_op.drop_index(batch_op.f('ix_call_log_account_id'))

    op.drop_table('call_log')
