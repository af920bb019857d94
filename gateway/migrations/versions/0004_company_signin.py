"""users.signin_method, email, display_name; invitations (issue 12: company sign-in, onboarding)

Revision ID: 0004_company_signin
Revises: 0003_second_factor
Create Date: 2026-12-01 13:00:00

Everyone existing keeps signing in with their local password (``local``).
Invitations and "forgot password" links are one-time tokens, stored as SHA-256.
"""
from alembic import op
import sqlalchemy as sa


revision = '0004_company_signin'
down_revision = '0003_second_factor'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('signin_method', sa.String(length=16), server_default='local', nullable=False))
        batch_op.add_column(sa.Column('email', sa.String(length=255), server_default='', nullable=False))
        batch_op.add_column(sa.Column('display_name', sa.String(length=128), server_default='', nullable=False))
    op.create_table(
        'invitations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('purpose', sa.String(length=16), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('used_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invitations_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invitations_user_id'))
    op.drop_table('invitations')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('display_name')
        batch_op.drop_column('email')
        batch_op.drop_column('signin_method')
