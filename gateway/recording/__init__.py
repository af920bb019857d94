"""Session recording: whether a session is recorded, where recordings live, what the history says.

* ``recording_for(machine, user)``: the one decision, made when a session is opened
  (``api/sessions.open_session``) and carried in its terms (``SessionTerms.record``):
  the PC's, the person's groups' and the global policy, below them the ``recording``
  setting (``gateway.policy``: recorded if any of the groups records);
* ``format`` (the file, sans I/O), ``storage`` (the folder), ``recorder``
  (the writer beside the relay), ``playback`` (what the player page reads).

``SessionRecord.recording`` says what became of a session's recording:
``""`` not recorded, ``RECORDING`` while it runs, ``RECORDED`` whole,
``DELETED`` (retention or an admin), or the reason it stopped early
("Recording stopped: …"; what was written before still plays).
"""

from __future__ import annotations

from pathlib import Path

from flask import current_app
from flask_babel import gettext as _

from .storage import FolderStorage

RECORDING = "recording"
RECORDED = "recorded"
DELETED = "deleted"


def recording_for(machine, user=None) -> bool:
    """Whether a session ``user`` opens now on ``machine`` is recorded (the policy hook: one place)."""
    from ..ops import policy as policy_ops  # ops imports this package

    return policy_ops.decide(user, machine).record


def notice() -> str:
    """What the person is told before a recorded session starts."""
    text = current_app.config["PONTE"].recording_notice.strip()
    return text or _("This session is recorded: what appears on the screen is saved and may be "
                     "reviewed by the administrators.")


def storage_for(settings) -> FolderStorage:
    return FolderStorage(settings.recordings_path or Path(settings.instance_path) / "recordings")


def storage() -> FolderStorage:
    return storage_for(current_app.config["PONTE"])


def playable(status: str) -> bool:
    """A history row whose recording has a file to play (whole, running, or stopped early)."""
    return bool(status) and status != DELETED
