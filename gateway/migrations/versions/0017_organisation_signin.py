"""organisation_signin: a firm's own OpenID provider and LDAP directory (issue 17)

Revision ID: 0017_organisation_signin
Revises: 0016_policy_files_recording
Create Date: 2026-12-02 01:00:00

No row for any firm: the default organisation keeps the gateway's settings (gateway.toml),
other firms have only local sign-in until the provider sets theirs.
"""
from alembic import op
import sqlalchemy as sa


revision = '0017_organisation_signin'
down_revision = '0016_policy_files_recording'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'organisation_signin',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('oidc_issuer', sa.String(length=255), nullable=False),
        sa.Column('oidc_client_id', sa.String(length=255), nullable=False),
        sa.Column('oidc_client_secret_sealed', sa.Text(), nullable=False),
        sa.Column('oidc_label', sa.String(length=80), nullable=False),
        sa.Column('oidc_create_users', sa.Boolean(), nullable=False),
        sa.Column('oidc_group_map', sa.Text(), nullable=False),
        sa.Column('ldap_url', sa.String(length=255), nullable=False),
        sa.Column('ldap_starttls', sa.Boolean(), nullable=False),
        sa.Column('ldap_ca_file', sa.String(length=255), nullable=False),
        sa.Column('ldap_bind_dn', sa.String(length=255), nullable=False),
        sa.Column('ldap_bind_password_sealed', sa.Text(), nullable=False),
        sa.Column('ldap_user_base', sa.String(length=255), nullable=False),
        sa.Column('ldap_user_filter', sa.String(length=255), nullable=False),
        sa.Column('ldap_group_base', sa.String(length=255), nullable=False),
        sa.Column('ldap_disabled_filter', sa.String(length=255), nullable=False),
        sa.Column('ldap_group_map', sa.Text(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('updated_by', sa.String(length=64), nullable=False),
        sa.Column('organisation_id', sa.Integer(), server_default='1', nullable=False),
        sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('organisation_id', name='uq_organisation_signin_organisation'),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table('organisation_signin', schema=None) as batch_op:
        batch_op.create_index('ix_organisation_signin_organisation_id', ['organisation_id'], unique=False)


def downgrade():
    with op.batch_alter_table('organisation_signin', schema=None) as batch_op:
        batch_op.drop_index('ix_organisation_signin_organisation_id')
    op.drop_table('organisation_signin')
