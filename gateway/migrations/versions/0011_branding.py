"""branding: the company's name and logo shown on every page (issue 13)

Revision ID: 0011_branding
Revises: 0010_shares_links
Create Date: 2026-12-01 16:30:00

No row: the pages say "Ponte", as before.
"""
from alembic import op
import sqlalchemy as sa


revision = '0011_branding'
down_revision = '0010_shares_links'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'branding',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('company_name', sa.String(length=80), nullable=False),
        sa.Column('logo', sa.LargeBinary(), nullable=True),
        sa.Column('logo_type', sa.String(length=32), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('updated_by', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade():
    op.drop_table('branding')
