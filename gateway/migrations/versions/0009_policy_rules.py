"""policy_rules: concurrency, idle timeout, maximum duration and hours, globally, per group, per PC (issue 14)

Revision ID: 0009_policy_rules
Revises: 0008_quality_session_figures
Create Date: 2026-12-01 16:00:00

No rows: nothing is set anywhere, so every PC stays shared, without limits, at any time,
as before.
"""
from alembic import op
import sqlalchemy as sa


revision = '0009_policy_rules'
down_revision = '0008_quality_session_figures'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'policy_rules',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('scope', sa.String(length=16), nullable=False),
        sa.Column('group_id', sa.Integer(), nullable=True),
        sa.Column('machine_id', sa.Integer(), nullable=True),
        sa.Column('concurrency', sa.String(length=16), nullable=True),
        sa.Column('idle_timeout', sa.Integer(), nullable=True),
        sa.Column('max_duration', sa.Integer(), nullable=True),
        sa.Column('hours', sa.String(length=500), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('updated_by', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['group_id'], ['groups.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['machine_id'], ['machines.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('scope', 'group_id', 'machine_id'),
    )
    with op.batch_alter_table('policy_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_policy_rules_group_id'), ['group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_policy_rules_machine_id'), ['machine_id'], unique=False)


def downgrade():
    with op.batch_alter_table('policy_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_policy_rules_machine_id'))
        batch_op.drop_index(batch_op.f('ix_policy_rules_group_id'))
    op.drop_table('policy_rules')
