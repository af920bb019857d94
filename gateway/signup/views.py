"""The public sign-up pages: ``/signup`` (a firm asks for access) and its confirmation link.

They exist only with the ``signup`` setting (else 404). What a POST goes through, so a flood
costs the node little: before the view, the CSRF token and the limits (Flask-Limiter, in Redis:
the client's address, the e-mail address, everyone together; past the last the page sheds with
"try again in a few minutes" instead of queueing work); then the honeypot field, the
proof-of-work (``proof``: one SHA-256 and one Redis SET here), the fields, one INSERT, and the
mail put in the outbox (``outbox``; full: the same shedding page). Every refusal is a page that
says what to do.
"""

from __future__ import annotations

import unicodedata

from flask import Blueprint, abort, current_app, render_template, request
from flask_babel import get_locale, gettext as _
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError

from ..auth import client_ip, ip_key
from ..extensions import limiter
from ..i18n import LANGUAGES
from . import proof, requests
from .outbox import Outbox, outbox

bp = Blueprint("signup", __name__)

FIRM_MAX, CONTACT_MAX, EMAIL_MAX = 120, 128, 254
PCS_MAX = 10000
#: The field a person never sees (hidden by the stylesheet, skipped by screen readers).
HONEYPOT = "website"


@bp.record_once
def _outbox(state) -> None:
    state.app.extensions["ponte.signup_outbox"] = Outbox(state.app.config["PONTE"])


def _settings():
    return current_app.config["PONTE"]


def _email_key() -> str:
    typed = request.form.get("email", "")[:EMAIL_MAX + 1]
    return _settings().redis_prefix + "signup-email:" + unicodedata.normalize("NFKC", typed).strip().casefold()


def _global_key() -> str:
    return _settings().redis_prefix + "signup-all"


@bp.before_request
def _only_when_on():
    if not _settings().signup:
        abort(404)


@bp.errorhandler(RateLimitExceeded)
def _limited(exc):
    return _problem(_("Too many requests"), exc.description, 429)


@bp.errorhandler(CSRFError)
def _csrf(exc):
    return _problem(_("The form has expired"),
                    _("For safety the form works only for a while after it is opened. Open it again and send it once more."),
                    400)


def _problem(title: str, message: str, status: int):
    return render_template("signup/problem.html", title=title, message=message, status=status), status


def _form(values: dict | None = None, errors: dict | None = None, status: int = 200, note: str = ""):
    settings = _settings()
    return render_template("signup/form.html", values=values or {}, errors=errors or {}, note=note,
                           challenge=proof.issue(settings.secret_key, settings.signup_pow_bits),
                           bits=settings.signup_pow_bits), status


def _shed_words() -> str:
    return _("Many firms are asking for access right now. Nothing was sent: try again in a few minutes.")


def _address_words() -> str:
    return _("Too many requests from this address in a short time. Try again later.")


def read_form(form) -> tuple[dict, dict]:
    """(the values, problems by field) of a sign-up form: every field required, bounded, printable."""
    values = {name: (form.get(name) or "").strip() for name in ("firm", "contact", "email", "pcs")}
    errors = {}
    bounds = {"firm": (FIRM_MAX, _("Write the firm's name, at most %(max)s characters.", max=FIRM_MAX)),
              "contact": (CONTACT_MAX, _("Write your name, at most %(max)s characters.", max=CONTACT_MAX))}
    for name, (limit, words) in bounds.items():
        text = values[name]
        if not text or len(text) > limit or any(unicodedata.category(c).startswith("C") for c in text):
            errors[name] = words
    email = values["email"]
    local, _at, domain = email.rpartition("@")
    if (not local or "." not in domain.strip(".") or len(email) > EMAIL_MAX
            or any(c.isspace() or unicodedata.category(c).startswith("C") or c in "<>,;\"" for c in email)):
        errors["email"] = _("Write an e-mail address such as name@firm.it.")
    pcs = values["pcs"]
    if not (pcs.isascii() and pcs.isdigit() and 1 <= int(pcs) <= PCS_MAX):
        errors["pcs"] = _("Write how many PCs, a number from 1 to %(max)s.", max=PCS_MAX)
    for name in values:
        values[name] = values[name][:300]   # shown back in the form: bounded whatever was sent
    return values, errors


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(lambda: _settings().signup_global_limit, methods=["POST"], key_func=_global_key,
               error_message=_shed_words)
@limiter.limit(lambda: _settings().signup_ip_limit, methods=["POST"], key_func=ip_key, error_message=_address_words)
@limiter.limit(lambda: _settings().signup_email_limit, methods=["POST"], key_func=_email_key,
               error_message=_address_words)
def page():
    """The request form, and what becomes of it."""
    if request.method == "GET":
        return _form()
    settings = _settings()
    if request.form.get(HONEYPOT):
        return _problem(_("The request was not sent"),
                        _("A field meant to stay empty was filled in, as programs do. If you are a person, "
                          "open the form again and fill in only the fields you see."), 400)
    verdict = proof.check(settings.secret_key, request.form.get("challenge", ""), request.form.get("proof", ""),
                          bits=settings.signup_pow_bits, redis=current_app.extensions["ponte.redis"],
                          prefix=settings.redis_prefix)
    values, errors = read_form(request.form)
    if verdict == proof.EXPIRED:
        return _form(values, errors, 400, _("The form was open for a long time. Check it and send it again."))
    if verdict == proof.REPLAYED:
        return _problem(_("The request was sent already"),
                        _("This form was sent once already. To ask again, open the form anew."), 400)
    if verdict != proof.OK:
        return _problem(_("The browser check failed"),
                        _("The page checks with a short calculation that a browser sent it, and the result "
                          "was wrong or missing. The page needs JavaScript: open the form again and send it."), 400)
    if errors:
        return _form(values, errors, 400)
    box = outbox(current_app)
    if box.waiting() >= settings.signup_outbox:
        return _problem(_("Too many requests"), _shed_words(), 503)
    language = str(get_locale())
    row, queued = requests.submit(firm=values["firm"], contact=values["contact"], email=values["email"],
                                  pcs=int(values["pcs"]), language=language if language in LANGUAGES else "en",
                                  ip=client_ip())
    if not queued:
        return _problem(_("Too many requests"), _shed_words(), 503)
    return render_template("signup/sent.html", email=row.email)


@bp.route("/signup/confirm/<link>", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"], key_func=ip_key)
def confirm(link: str):
    """The mailed link: a page with one button (a mail scanner opening the link confirms nothing)."""
    row = requests.find_unconfirmed(link)
    if row is None:
        return _problem(_("This link does not work"),
                        _("It was used already, has expired or never existed. You can ask for access again."), 404)
    if request.method == "POST":
        row = requests.confirm(link, ip=client_ip())
        if row is None:
            return _problem(_("This link does not work"),
                            _("It was used already, has expired or never existed. You can ask for access again."),
                            404)
        return render_template("signup/confirmed.html", row=row)
    return render_template("signup/confirm.html", row=row)
