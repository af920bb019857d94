"""What one viewing session may do and for how long.

Decided once, when the session is opened (from the PC's, its groups' and the
global policy, or by the share link or admin action that opened it), carried
in the one-time ticket to whichever node runs the session, and enforced
there (``pairing``, ``relay``) — never only in the page.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

#: How the session was opened: by the person granted the PC, by an admin
#: looking over someone's shoulder, or by a guest with a share link.
KINDS = ("user", "shadow", "guest")


@dataclass(frozen=True)
class SessionTerms:
    #: The gateway drops every viewer→PC input message (keys, pointer, clipboard).
    view_only: bool = False
    #: Seconds without viewer input before the session ends; 0: never.
    idle_timeout: int = 0
    #: Seconds the session may last; 0: no limit.
    max_duration: int = 0
    kind: str = "user"
    #: The gateway records the screen (``gateway.recording``); the person was told before it started.
    record: bool = False

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict | None) -> "SessionTerms":
        """Terms from a ticket; unknown keys ignored, missing ones default (older tickets)."""
        if not isinstance(data, dict):
            return cls()
        known = {f.name: f.type for f in fields(cls)}
        kwargs = {}
        for name in known:
            if name not in data:
                continue
            value = data[name]
            if name in ("view_only", "record"):
                kwargs[name] = bool(value)
            elif name == "kind":
                kwargs[name] = value if value in KINDS else "user"
            else:
                kwargs[name] = max(0, int(value))
        return cls(**kwargs)
