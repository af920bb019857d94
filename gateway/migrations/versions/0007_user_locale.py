"""users.locale: the language a person chose (issue 13)

Revision ID: 0007_user_locale
Revises: 0006_totp_encrypted
Create Date: 2026-12-01 14:00:00

Empty for everyone existing: their pages keep following the browser's language.
"""
from alembic import op
import sqlalchemy as sa


revision = '0007_user_locale'
down_revision = '0006_totp_encrypted'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=8), server_default='', nullable=False))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('locale')
