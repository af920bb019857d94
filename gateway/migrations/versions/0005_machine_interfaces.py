"""machines.agent_interfaces (issue 11 §5: Wake-on-LAN)

Revision ID: 0005_machine_interfaces
Revises: 0004_company_signin
Create Date: 2026-12-01 14:00:00

The agent's network interfaces (MAC, IPv4 address, prefix, broadcast) as JSON, so a PC
that is off can still be woken through a neighbour on its subnet. Empty until the
agent next says hello.
"""
from alembic import op
import sqlalchemy as sa


revision = '0005_machine_interfaces'
down_revision = '0004_company_signin'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('machines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('agent_interfaces', sa.Text(), server_default='', nullable=False))


def downgrade():
    with op.batch_alter_table('machines', schema=None) as batch_op:
        batch_op.drop_column('agent_interfaces')
