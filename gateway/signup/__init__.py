"""The public sign-up of firms (issue 17): a firm asks for access, confirms its e-mail address,
and the provider approves it (or the ``signup_auto_approve`` setting does): that makes its
organisation and invites its first admin.

Built to survive a surge without sharing fate with live sessions: nothing slow on the request
path (no argon2, no SMTP: mail goes through a bounded outbox, ``outbox``), limits per address
and globally that shed rather than queue (``views``), and a proof-of-work instead of a CAPTCHA
(``proof``).

Modules: ``proof`` (challenges), ``outbox`` (mail off the request), ``requests`` (the records
and their decisions), ``views`` (the public pages), ``provider_views`` (the provider's queue).
"""
