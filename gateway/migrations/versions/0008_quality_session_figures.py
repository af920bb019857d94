"""session_history: how each session felt — round trips, frame rate, encoding, bandwidth (issue 14)

Revision ID: 0008_quality_session_figures
Revises: 0007_user_locale
Create Date: 2026-12-01 16:00:00

Empty (NULL, or '' for the encoding) for sessions recorded before: they were never measured.
"""
from alembic import op
import sqlalchemy as sa


revision = '0008_quality_session_figures'
down_revision = '0007_user_locale'
branch_labels = None
depends_on = None

FIGURES = [('rtt_viewer_ms', sa.Integer()), ('rtt_agent_ms', sa.Integer()), ('fps', sa.Float()),
           ('kbps_to_viewer_mean', sa.Integer()), ('kbps_to_viewer_peak', sa.Integer()),
           ('kbps_from_viewer_mean', sa.Integer()), ('kbps_from_viewer_peak', sa.Integer())]


def upgrade():
    with op.batch_alter_table('session_history', schema=None) as batch_op:
        for name, kind in FIGURES:
            batch_op.add_column(sa.Column(name, kind, nullable=True))
        batch_op.add_column(sa.Column('encoding', sa.String(length=32), server_default='', nullable=False))


def downgrade():
    with op.batch_alter_table('session_history', schema=None) as batch_op:
        batch_op.drop_column('encoding')
        for name, _kind in reversed(FIGURES):
            batch_op.drop_column(name)
