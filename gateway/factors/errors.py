"""The exception tree of ``gateway.factors``::

    FactorError              a second-factor operation refused; the message is for the person
    ├── WrongCode            a TOTP or recovery code that does not match (or was used already)
    └── PasskeyError         a WebAuthn ceremony that failed verification (library errors wrapped)
"""


class FactorError(Exception):
    """A second-factor operation refused; ``str()`` is safe to show the person."""


class WrongCode(FactorError):
    pass


class PasskeyError(FactorError):
    pass
