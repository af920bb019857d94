"""Operations by resource: what the CLI, the admin pages and the JSON API all call.

Every function audits what it changes (``actor``, ``ip``) and commits.
Changes that take access away end the affected live sessions at once, on
whichever node holds them. Modules::

    accounts    users, passwords and logins, groups, group members
    machines    machines, enrolment codes and agent credentials, grants (to a user or a group)
    sessions    ending live sessions; the node-bus commands this package sends
    tokens      bearer API tokens
    naming      what names and passwords must be; renaming a group or a machine
    bulk        many grants or group members in one step (one commit)

Callers write ``from gateway import ops`` and ``ops.grant(user, machine)``:
the names below are the package's interface. Its exceptions (``AdminError`` with
``NotFound`` and ``Conflict``, ``EnrolmentError``) live in ``gateway.errors``.
"""

from .accounts import (add_group, add_member, add_user, delete_group, delete_user, end_logins, get_group,
                       get_user, remove_member, set_admin, set_disabled, set_password)
from .bulk import bulk_add_members, bulk_grant, bulk_ungrant
from ..errors import AdminError, Conflict, EnrolmentError, NotFound
from .machines import (add_machine, delete_machine, enrol_agent, enrol_command, get_machine, grant,
                       new_enrolment, pending_code_expiry, retry_vnc, revoke_machine, ungrant)
from .naming import rename
from .sessions import ACCESS_REMOVED, end_session, end_sessions_without_access
from .tokens import TOKEN_PREFIX, create_token, get_token, revoke_token, user_for_token

__all__ = [
    "ACCESS_REMOVED", "TOKEN_PREFIX", "AdminError", "Conflict", "EnrolmentError", "NotFound",
    "add_group", "add_member", "add_machine", "add_user", "bulk_add_members", "bulk_grant", "bulk_ungrant", "create_token", "delete_group", "delete_machine",
    "delete_user", "end_logins", "end_session", "end_sessions_without_access", "enrol_agent", "enrol_command",
    "get_group", "get_machine", "get_token", "get_user", "grant", "new_enrolment", "pending_code_expiry",
    "remove_member", "rename", "retry_vnc", "revoke_machine", "revoke_token", "set_admin", "set_disabled",
    "set_password", "ungrant", "user_for_token",
]
