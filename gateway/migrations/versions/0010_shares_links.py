"""share_links and global_settings: guests' links to one PC (issue 14)

Revision ID: 0010_shares_links
Revises: 0009_policy_rules
Create Date: 2026-12-01 16:00:00

``share_links`` keeps only the SHA-256 of each link's secret. ``global_settings`` holds
run-time switches an admin changes (first: ``share_links``, whether employees may share).
"""
from alembic import op
import sqlalchemy as sa


revision = '0010_shares_links'
down_revision = '0009_policy_rules'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'share_links',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('machine_id', sa.Integer(), nullable=False),
        sa.Column('creator_id', sa.Integer(), nullable=True),
        sa.Column('creator_name', sa.String(length=64), nullable=False),
        sa.Column('view_only', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('max_uses', sa.Integer(), nullable=False),
        sa.Column('uses', sa.Integer(), server_default='0', nullable=False),
        sa.Column('revoked_at', sa.DateTime(), nullable=True),
        sa.Column('revoked_by', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['machine_id'], ['machines.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table('share_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_share_links_machine_id'), ['machine_id'], unique=False)
    op.create_table(
        'global_settings',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('value', sa.String(length=255), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('updated_by', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )


def downgrade():
    op.drop_table('global_settings')
    with op.batch_alter_table('share_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_share_links_machine_id'))
    op.drop_table('share_links')
