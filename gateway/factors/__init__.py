"""Second factors (issue 12): TOTP apps, recovery codes, passkeys, and who must have one.

=================  =========================================================================
module             job
=================  =========================================================================
``totp``           RFC 6238 codes (pyotp): secrets, the otpauth:// URI and its QR code (segno),
                   one use per code
``recovery``       ten one-time recovery codes, argon2-hashed (``gateway.security``)
``passkeys``       WebAuthn registration and assertions (the ``webauthn`` package)
``policy``         the admin's 2FA policy (SQL) and "must this person have a factor?"
``manage``         turning factors on and off, resets; each ends the person's other logins
``login``          the step after a correct password: pending login, ``/login/second-factor``,
                   passkey login, and the forced set-up for people under the policy
``reauth``         the factor step of ``/reauth`` (the recent-login rule) for people with one
``views``          the person's own factor pages under ``/account`` (blueprint ``account``)
``admin_views``    policy page and "reset factors" on the admin blueprint
``api_views``      the same for scripts on the API blueprint
=================  =========================================================================

Its exceptions (``FactorError``, ``WrongCode``, ``PasskeyError``) are in ``gateway.errors``.
"""
