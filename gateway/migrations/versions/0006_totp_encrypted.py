"""TOTP seeds sealed at rest: totp_factors.secret (plain base32) -> sealed_secret (Fernet)

Revision ID: 0006_totp_encrypted
Revises: 0005_machine_interfaces
Create Date: 2026-12-01 14:00:00

Existing seeds are sealed with the key ``gateway.sealing`` derives from the instance's
SECRET_KEY, so everyone's authenticator app keeps working. A database with seeds to seal
and no SECRET_KEY in the app running the upgrade stops here rather than lose them.
Downgrading opens them again (same key needed).
"""
from alembic import op
import sqlalchemy as sa
from flask import current_app

from gateway import sealing


revision = '0006_totp_encrypted'
down_revision = '0005_machine_interfaces'
branch_labels = None
depends_on = None

_factors = sa.table('totp_factors', sa.column('id', sa.Integer()), sa.column('secret', sa.String()),
                    sa.column('sealed_secret', sa.String()))


def _rewrite(source: str, target: str, change) -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(_factors.c.id, _factors.c[source])).all()
    if not rows:
        return
    key = current_app.config.get('SECRET_KEY')
    for row_id, value in rows:
        conn.execute(_factors.update().where(_factors.c.id == row_id).values({target: change(value, key)}))


def upgrade():
    with op.batch_alter_table('totp_factors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sealed_secret', sa.String(length=255), server_default='', nullable=False))
    _rewrite('secret', 'sealed_secret', sealing.seal)
    with op.batch_alter_table('totp_factors', schema=None) as batch_op:
        batch_op.alter_column('sealed_secret', server_default=None)
        batch_op.drop_column('secret')


def downgrade():
    with op.batch_alter_table('totp_factors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('secret', sa.String(length=64), server_default='', nullable=False))
    _rewrite('sealed_secret', 'secret', sealing.unseal)
    with op.batch_alter_table('totp_factors', schema=None) as batch_op:
        batch_op.alter_column('secret', server_default=None)
        batch_op.drop_column('sealed_secret')
