"""The API's one error: its status, its code and its message reach the client as
``{"error": {"code", "message"}}`` (``api._error_reply``)."""

from __future__ import annotations

from ..ops import AdminError, Conflict, NotFound


class ApiError(Exception):
    """A refusal the API reports to the client."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    @classmethod
    def from_admin_error(cls, exc: AdminError) -> ApiError:
        """An operation's refusal: 404 for ``NotFound``, 409 for ``Conflict``, else 400."""
        if isinstance(exc, NotFound):
            return cls(404, "not_found", str(exc))
        if isinstance(exc, Conflict):
            return cls(409, "conflict", str(exc))
        return cls(400, "invalid", str(exc))
