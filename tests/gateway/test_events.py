"""Every audit action the gateway writes has plain words (issue 13): a name for the audit
filter and a sentence for the log ("emp opened desk-1"), in English and Italian; actors that
are not people (``agent:<host>``, ``cli``, ``retention``...) are explained.

The actions are found in the source (every call of ``audit`` and of the helpers that pass an
action on to it): a new action without words fails here, and so does a new way of building
an action's name that this test does not know how to read.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from gateway import events
from gateway.extensions import db
from gateway.models import AuditEvent

ROOT = Path(__file__).resolve().parents[2]
IT = {"Accept-Language": "it"}

#: Calls that write an audit row, and which argument names the action (position, keyword).
WRITERS = {"audit": (0, "action"), "_audit": (0, None), "audit_transfer": (0, None),
           "end_logins": (None, "action"), "_changed": (1, None), "finish": (2, None)}
#: Actions built at run time: (file, the expression as written) -> every name it can make.
BUILT = {
    ("gateway/ops/naming.py", "f'{prefix}_rename'"): {"group_rename", "machine_rename"},
    ("gateway/ops/machines.py", "'grant' + kind.action"): {"grant", "grant_group"},
    ("gateway/ops/machines.py", "'ungrant' + kind.action"): {"ungrant", "ungrant_group"},
    ("gateway/signin/invitations.py", "f'{purpose}_link'"): {"invite_link", "reset_link"},
    ("gateway/files.py", "f'file.{direction}'"): {"file.upload", "file.download"},
    ("gateway/api/occupancy.py", "'session_takeover_' + ('accepted' if accept == 'accept' else 'refused')"):
        {"session_takeover_accepted", "session_takeover_refused"},
}
#: Parameters that only pass an action on (their callers are read instead).
PASSED_ON = {("gateway/ops/accounts.py", "action"), ("gateway/factors/login.py", "action"),
             ("gateway/factors/manage.py", "action"), ("gateway/api/files.py", "direction"), ("gateway/api/files.py", "op"),
             ("gateway/api/files.py", "files.UPLOAD"), ("gateway/api/files.py", "files.DOWNLOAD")}


def _constants(node) -> set[str] | None:
    """The names a plain expression can have (a string, or ``a if c else b`` of strings)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        body, orelse = _constants(node.body), _constants(node.orelse)
        return body | orelse if body is not None and orelse is not None else None
    return None


def written_actions() -> set[str]:
    found, unknown = set(), []
    for path in sorted((ROOT / "gateway").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if "/migrations/" in rel:
            continue
        for node in ast.walk(ast.parse(path.read_text(), rel)):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name not in WRITERS:
                continue
            position, keyword = WRITERS[name]
            arg = next((k.value for k in node.keywords if k.arg == keyword), None) if keyword else None
            if arg is None and position is not None and len(node.args) > position:
                arg = node.args[position]
            if arg is None:
                continue   # a call of a same-named function that writes nothing (e.g. a Flask ``finish``)
            names = _constants(arg)
            if names is None:
                names = BUILT.get((rel, ast.unparse(arg)))
            if names is None:
                if (rel, ast.unparse(arg)) not in PASSED_ON:
                    unknown.append(f"{rel}:{node.lineno}: {ast.unparse(arg)}")
                continue
            found |= names
    assert not unknown, f"audit actions this test cannot read (add them to BUILT or PASSED_ON): {unknown}"
    return found


def test_the_source_is_read_whole():
    actions = written_actions()
    # A sample from each way of writing one: plain, built, passed on through end_logins/_changed/finish.
    for name in ("session_start", "organisation_created", "grant_group", "file.upload", "logout_everywhere",
                 "factor_totp_on", "login_passkey", "user_enable", "session_takeover_refused", "policy_set"):
        assert name in actions, name


def test_every_action_written_has_words_and_a_sentence():
    actions = written_actions()
    assert sorted(actions - set(events.WORDS)) == []
    assert sorted(actions - set(events.SENTENCES)) == []


@pytest.mark.parametrize("headers", [{}, IT], ids=["en", "it"])
def test_every_sentence_is_translated_and_fills_in(app, headers):
    with app.test_request_context(headers=headers):
        for action in events.SENTENCES:
            told = events.sentence(action, "emp", "boss → desk-1")
            assert "%(" not in told and told.strip(), action
            if headers:
                assert events.words(action) != events.WORDS[action] or action in ("login",), action


def test_sentences_and_actors_in_words(app):
    with app.test_request_context():
        assert events.sentence("session_start", "emp", "desk-1") == "emp opened desk-1"
        assert events.sentence("grant", "boss", "emp → desk-1") == "boss let emp open desk-1"
        assert events.sentence("grant_group", "boss", "group sales → desk-3") == "boss let the group sales open desk-3"
        assert events.sentence("enrol", "agent:vm-7", "desk-1") == "The agent on vm-7 enrolled as desk-1"
        assert events.sentence("recording_delete", "retention", "desk-1").startswith(
            "The automatic clean-up (retention period) deleted")
        assert events.who("cli") == "An operator on the gateway's command line"
        assert events.who("") == "Someone not logged in"
        assert events.who("guest of link 12") == "A guest of share link 12"
    with app.test_request_context(headers=IT):
        assert events.sentence("session_start", "emp", "desk-1") == "emp ha aperto desk-1"
        assert events.who("agent:vm-7") == "L’agente su vm-7"
        assert events.sentence("no_such_action", "cli", "") == "Un operatore alla riga di comando del gateway: no_such_action"


def test_the_audit_page_tells_events_in_sentences(app, client, world, login):
    with app.app_context():
        db.session.add_all([AuditEvent(action="session_start", actor="emp", target="desk-1"),
                            AuditEvent(action="enrol", actor="agent:vm-7", target="desk-2"),
                            AuditEvent(action="recording_delete", actor="retention", target="desk-1")])
        db.session.commit()
    login("boss")
    html = client.get("/admin/audit", headers=IT).get_data(as_text=True)
    assert "emp ha aperto desk-1" in html and "<code>session_start</code>" in html
    assert "L’agente su vm-7 si è registrato come desk-2" in html and "<code>agent:vm-7</code>" in html
    assert "La pulizia automatica (periodo di conservazione)" in html
    history = client.get("/admin/history", headers=IT).get_data(as_text=True)
    assert "Inviati al PC" in history and "Ricevuti dal PC" in history
