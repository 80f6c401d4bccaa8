"""call_log: every leg of every account the controller saw, with its decision and reason; call_request and
live_leg: call control over the REST API and the Calls now page (issue 12)

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

    op.create_table('call_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('leg_uuid', sa.String(length=64), nullable=False),
    sa.Column('account_number', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('requested_by', sa.String(length=120), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('done_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_request'))
    )
    with op.batch_alter_table('call_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_call_request_leg_uuid'), ['leg_uuid'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_request_status'), ['status'], unique=False)

    op.create_table('live_leg',
    sa.Column('leg_uuid', sa.String(length=64), nullable=False),
    sa.Column('node', sa.String(length=128), nullable=False),
    sa.Column('call_key', sa.String(length=64), nullable=False),
    sa.Column('account_number', sa.String(length=64), nullable=False),
    sa.Column('direction', sa.String(length=16), nullable=False),
    sa.Column('caller', sa.String(length=255), nullable=False),
    sa.Column('callee', sa.String(length=255), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('recording', sa.String(length=16), nullable=False),
    sa.Column('manual_control', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('leg_uuid', name=op.f('pk_live_leg'))
    )
    with op.batch_alter_table('live_leg', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_live_leg_node'), ['node'], unique=False)


def downgrade():
    with op.batch_alter_table('live_leg', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_live_leg_node'))

    op.drop_table('live_leg')
    with op.batch_alter_table('call_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_call_request_status'))
        batch_op.drop_index(batch_op.f('ix_call_request_leg_uuid'))

    op.drop_table('call_request')
    with op.batch_alter_table('call_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_call_log_started_at'))
        batch_op.drop_index(batch_op.f('ix_call_log_leg_uuid'))
        batch_op.drop_index(batch_op.f('ix_call_log_decision'))
        batch_op.drop_index(batch_op.f('ix_call_log_call_key'))
        batch_op.drop_index(batch_op.f('ix_call_log_account_number'))
        batch_op.drop_index(batch_op.f('ix_call_log_account_id'))

    op.drop_table('call_log')
