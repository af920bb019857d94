"""Time-based one-time passwords (RFC 6238) with pyotp; the QR code with segno.

A code is accepted for its own 30 s step and one step either side (clock drift,
RFC 6238 §5.2), and only once: the factor row remembers the last accepted step
and a code of that step or an earlier one is refused. The update is conditional
(``last_step < step``) so two nodes cannot both accept the same code.

The seed is kept sealed (``gateway.sealing``) and opened only to show it during
setup and to check a code; a seed that does not open (the instance secret
changed, or the row was altered) refuses every code: it fails closed.
"""

from __future__ import annotations

import io
import logging
import time

import pyotp
import segno
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import update

from .. import sealing
from ..errors import SealError, WrongCode
from ..extensions import db
from ..models import TotpFactor

log = logging.getLogger(__name__)

ISSUER = "Ponte"
STEP = 30          # seconds, RFC 6238's default and what every app assumes
DRIFT_STEPS = 1    # steps accepted either side of now
DIGITS = 6


def new_secret() -> str:
    return pyotp.random_base32()   # 160 bits, RFC 4226 §4's recommendation


def set_secret(factor: TotpFactor, secret: str) -> None:
    """Store ``secret`` sealed under this instance's key (caller commits)."""
    factor.sealed_secret = sealing.seal(secret, current_app.config["SECRET_KEY"])


def secret_of(factor: TotpFactor) -> str:
    """The base32 seed of ``factor``; ``SealError`` if it does not open under this instance's key."""
    return sealing.unseal(factor.sealed_secret, current_app.config["SECRET_KEY"])


def provisioning_uri(secret: str, account: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The ``otpauth://`` URI as an inline SVG (no script, no data: URL: fine under our CSP)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=5, border=2, xmldecl=False, svgns=True,
                                    title="QR code for your authenticator app")
    return out.getvalue().decode()


def normalise(code: str) -> str:
    return "".join(ch for ch in (code or "") if ch.isdigit())


def matching_step(secret: str, code: str, *, after: int, now: float | None = None) -> int | None:
    """The time step ``code`` belongs to (within the drift), if later than ``after``; else None."""
    code = normalise(code)
    if len(code) != DIGITS:
        return None
    totp = pyotp.TOTP(secret)
    now = time.time() if now is None else now
    current = int(now // STEP)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if step > after and pyotp.utils.strings_equal(totp.generate_otp(step), code):
            return step
    return None


def use_code(factor: TotpFactor, code: str, now: float | None = None) -> None:
    """Accept ``code`` once (caller commits), or raise ``WrongCode``."""
    try:
        secret = secret_of(factor)
    except SealError:
        log.error("the TOTP secret of user id %s does not open under this instance's SECRET_KEY "
                  "(changed since it was set up?); refusing its codes", factor.user_id)
        raise WrongCode(_("Your authenticator app cannot be checked here: use a recovery code or a "
                        "passkey, then set the app up again.")) from None
    step = matching_step(secret, code, after=factor.last_step, now=now)
    if step is None:
        raise WrongCode(_("That code is not right, or was used already. Wait for the next one."))
    claimed = db.session.execute(update(TotpFactor).where(TotpFactor.id == factor.id, TotpFactor.last_step < step)
                                 .values(last_step=step).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        raise WrongCode(_("That code was used already. Wait for the next one."))
    db.session.refresh(factor)
