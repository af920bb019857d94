"""organisation scope: every tenant-owned table names its organisation (issue 17)

Revision ID: 0014_organisation_scope
Revises: 0013_organisations
Create Date: 2026-12-01 19:40:00

Existing rows belong to the default organisation (id 1); rows that hang off a person (tokens,
factors, invitations, grants) take that person's. User, group and PC names become unique per
organisation instead of across the whole gateway (``gateway/scoping.py`` keeps firms apart).
A firm may have its own host name; a person may be a provider operator.
"""
from alembic import op
import sqlalchemy as sa


revision = '0014_organisation_scope'
down_revision = '0013_organisations'
branch_labels = None
depends_on = None

#: Tables that get ``organisation_id`` (users has it since 0013).
TABLES = ('groups', 'machines', 'enrolment_codes', 'grants', 'group_grants', 'api_tokens', 'session_history',
          'audit', 'totp_factors', 'recovery_codes', 'passkeys', 'factor_policy', 'invitations', 'policy_rules',
          'share_links', 'branding')
#: Rows that belong to whoever they hang off: (table, column naming a user).
OF_A_PERSON = (('api_tokens', 'user_id'), ('totp_factors', 'user_id'), ('recovery_codes', 'user_id'),
               ('passkeys', 'user_id'), ('invitations', 'user_id'), ('grants', 'user_id'))
#: Unique constraints that become per organisation: table → (old columns, new name).
PER_ORGANISATION = {
    'users': (['name'], 'uq_users_organisation_name'),
    'groups': (['name'], 'uq_groups_organisation_name'),
    'machines': (['name'], 'uq_machines_organisation_name'),
    'policy_rules': (['scope', 'group_id', 'machine_id'], 'uq_policy_rules_organisation_level'),
}
#: How SQLite's batch mode names the unnamed constraints of 0001/0009 so they can be dropped.
SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _old_unique(bind, table: str, columns: list[str]) -> str:
    if bind.dialect.name == 'sqlite':
        return f'uq_{table}_{columns[0]}'
    for found in sa.inspect(bind).get_unique_constraints(table):
        if list(found['column_names']) == columns:
            return found['name']
    raise RuntimeError(f'no unique constraint on {table}{tuple(columns)}')


def upgrade():
    bind = op.get_bind()
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hostname', sa.String(length=255), nullable=True))
        batch_op.create_unique_constraint('uq_organisations_hostname', ['hostname'])
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_operator', sa.Boolean(), server_default='0', nullable=False))
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('organisation_id', sa.Integer(), server_default='1', nullable=False))
            batch_op.create_index(f'ix_{table}_organisation_id', ['organisation_id'], unique=False)
            batch_op.create_foreign_key(f'fk_{table}_organisation_id', 'organisations', ['organisation_id'], ['id'])
    for table, column in OF_A_PERSON:
        op.execute(f'UPDATE {table} SET organisation_id = (SELECT users.organisation_id FROM users '
                   f'WHERE users.id = {table}.{column}) WHERE {column} IN (SELECT id FROM users)')
    for table, (columns, name) in PER_ORGANISATION.items():
        old = _old_unique(bind, table, columns)
        with op.batch_alter_table(table, schema=None, naming_convention=SQLITE_NAMES) as batch_op:
            batch_op.drop_constraint(old, type_='unique')
            batch_op.create_unique_constraint(name, ['organisation_id', *columns])


def downgrade():
    for table, (columns, name) in PER_ORGANISATION.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(name, type_='unique')
            batch_op.create_unique_constraint(f'uq_{table}_{columns[0]}', columns)
    for table in reversed(TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f'fk_{table}_organisation_id', type_='foreignkey')
            batch_op.drop_index(f'ix_{table}_organisation_id')
            batch_op.drop_column('organisation_id')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('is_operator')
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.drop_constraint('uq_organisations_hostname', type_='unique')
        batch_op.drop_column('hostname')
