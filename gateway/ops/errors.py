"""The exceptions of ``gateway.ops``, drawn once::

    AdminError              the change is not possible (names why)
    ├── NotFound            no such user, group, machine or token
    └── Conflict            the name is taken
    EnrolmentError          an enrolment code was refused

The JSON API maps them to 404 / 409 / 400 (and 403 for ``EnrolmentError``);
the admin pages flash the message; the CLI prints it.
"""

from __future__ import annotations


class AdminError(Exception):
    """An admin change that cannot be made."""


class NotFound(AdminError):
    """The record the change names does not exist."""


class Conflict(AdminError):
    """The name is taken by another record of the same kind."""


class EnrolmentError(Exception):
    """An enrolment code that is unknown, used or expired."""
