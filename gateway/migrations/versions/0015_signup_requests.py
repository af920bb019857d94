"""signup_requests: firms asking for access through the public sign-up page (issue 17)

Revision ID: 0015_signup_requests
Revises: 0014_organisation_scope
Create Date: 2026-12-01 19:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0015_signup_requests'
down_revision = '0014_organisation_scope'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'signup_requests',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('firm_name', sa.String(length=120), nullable=False),
        sa.Column('contact_name', sa.String(length=128), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('pcs', sa.Integer(), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.Column('client_ip', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('confirmed_at', sa.DateTime(), nullable=True),
        sa.Column('decided_at', sa.DateTime(), nullable=True),
        sa.Column('decided_by', sa.String(length=64), nullable=False),
        sa.Column('organisation_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table('signup_requests', schema=None) as batch_op:
        batch_op.create_index('ix_signup_requests_email', ['email'], unique=False)
        batch_op.create_index('ix_signup_requests_status', ['status'], unique=False)


def downgrade():
    with op.batch_alter_table('signup_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_signup_requests_status')
        batch_op.drop_index('ix_signup_requests_email')
    op.drop_table('signup_requests')
