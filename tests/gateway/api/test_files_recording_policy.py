"""Files and recording per PC, group and globally (issue 15): what the files API lets through
and audits, the viewer's Files button, whether a session is recorded and how long it is kept.

No agent here: a refusal by policy comes before the gateway asks the PC for anything, and
a PC without an agent is "offline" (tests/e2e/test_files.py has the real agent).
"""

from __future__ import annotations

import re

import json
import uuid
from datetime import timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import select

from gateway import create_app, ops, recording
from gateway.extensions import db
from gateway.models import AuditEvent, SessionRecord, utcnow
from gateway.ops import policy as policy_ops
from gateway.ops import recordings as recordings_ops
from tests.support.web import PASSWORDS, AuthActions


def _app(tmp_path, redis_server, prefix, **settings):
    app = create_app({"instance_path": str(tmp_path / "instance"), "redis_url": redis_server,
                      "redis_prefix": prefix, "login_limit": "1000 per minute", **settings})
    app.config["TESTING"] = True
    with app.app_context():
        ops.add_user("boss", PASSWORDS["boss"], admin=True)
        emp, other = ops.add_user("emp", PASSWORDS["emp"]), ops.add_user("other", PASSWORDS["other"])
        desk, _ = ops.add_machine("desk-1")
        lab, _ = ops.add_machine("lab-1")
        for machine in (desk, lab):
            ops.grant(emp, machine)
        # ``other`` reaches desk-1 through two groups
        for name in ("accounts", "contractors"):
            group = ops.add_group(name)
            ops.add_member(group, other)
            ops.grant(group, desk)
    return app


@pytest.fixture
def gw(tmp_path, redis_server, prefix):
    return _app(tmp_path, redis_server, prefix)


def person(app, name):
    client = app.test_client()
    auth = AuthActions(client)
    assert auth.login(name, PASSWORDS[name]).status_code == 302
    return client, auth.headers()


def set_policy(app, target, **changes):
    with app.app_context():
        kind, _, name = (target or "").partition(":")
        ref = None if target is None else ops.get_group(name) if kind == "group" else ops.get_machine(name)
        policy_ops.set_rules(ref, changes, actor="test")


def file_audit(app, action):
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
        return [(r.actor, r.target, json.loads(r.detail)) for r in rows]


def upload(client, headers, machine, name="a.txt", data=b"hello"):
    return client.post(f"/api/v1/machines/{machine}/files?name={name}", data=data,
                       headers={**headers, "Content-Type": "application/octet-stream"})


def download(client, machine, name="a.txt"):
    return client.get(f"/api/v1/machines/{machine}/files/content?folder=0&name={name}")


# -- files -----------------------------------------------------------------------------------------

def test_a_pc_that_allows_only_uploads_refuses_a_download_clearly_and_audits_it(gw):
    set_policy(gw, "machine:desk-1", file_transfer="upload")
    client, headers = person(gw, "emp")
    resp = download(client, "desk-1", "report.pdf")
    assert resp.status_code == 403
    error = resp.get_json()["error"]
    assert error["code"] == "files_off"
    assert error["message"] == ("Files may not be fetched from this PC: its policy lets files only be sent "
                                "to it.")
    assert file_audit(gw, "file.download") == [
        ("emp", "desk-1", {"name": "report.pdf", "size": 0, "outcome": "refused: the PC's policy is upload"})]
    # The listing says so and asks the PC for nothing; an upload gets past the policy (to the
    # PC, which is offline here: refused as such, and audited too).
    listing = client.get("/api/v1/machines/desk-1/files").get_json()
    assert listing["policy"] == "upload" and listing["files"] == []
    resp = upload(client, headers, "desk-1")
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "offline"
    assert file_audit(gw, "file.upload") == [
        ("emp", "desk-1", {"name": "a.txt", "size": 5, "outcome": "refused: the PC is offline"})]
    # Another PC, with no policy of its own, still lets files go both ways.
    assert client.get("/api/v1/machines/lab-1/files").status_code == 409  # offline, not refused


@pytest.mark.parametrize("machine_ways, upload_status, download_status", [
    ("both", 409, 409), ("upload", 409, 403), ("download", 403, 409), ("none", 403, 403)])
def test_each_way_per_pc(gw, machine_ways, upload_status, download_status):
    set_policy(gw, "machine:desk-1", file_transfer=machine_ways)
    client, headers = person(gw, "emp")
    assert upload(client, headers, "desk-1").status_code == upload_status
    assert download(client, "desk-1").status_code == download_status
    listing = client.get("/api/v1/machines/desk-1/files")
    if machine_ways == "none":
        assert listing.status_code == 403
    elif machine_ways == "upload":
        assert listing.status_code == 200 and listing.get_json()["policy"] == "upload"


def test_the_gateway_setting_is_the_default_and_the_global_policy_overrides_it(tmp_path, redis_server, prefix):
    app = _app(tmp_path, redis_server, prefix, file_transfer="none")
    client, headers = person(app, "emp")
    assert download(client, "desk-1").status_code == 403
    set_policy(app, None, file_transfer="download")
    assert download(client, "desk-1").status_code == 409   # allowed: the PC is only offline
    assert upload(client, headers, "desk-1").status_code == 403
    set_policy(app, "machine:desk-1", file_transfer="both")
    assert upload(client, headers, "desk-1").status_code == 409


def test_several_groups_allow_only_the_ways_all_of_them_allow(gw):
    set_policy(gw, "group:accounts", file_transfer="both")
    set_policy(gw, "group:contractors", file_transfer="upload")
    client, headers = person(gw, "other")
    assert download(client, "desk-1").status_code == 403
    assert upload(client, headers, "desk-1").status_code == 409
    # emp reaches desk-1 directly, not through these groups: the groups' rules are not theirs
    emp, _ = person(gw, "emp")
    assert download(emp, "desk-1").status_code == 409


def test_the_files_button_follows_the_pcs_policy(gw):
    set_policy(gw, "machine:desk-1", file_transfer="none")
    client, _ = person(gw, "emp")
    # The one viewer template always has the button, hidden; only a page given the files URL
    # loads files.js, which shows it (viewer.js).
    assert files_url(client, "desk-1") == ""
    assert files_url(client, "lab-1") == "/api/v1/machines/2/files"
    set_policy(gw, "machine:desk-1", file_transfer="download")
    assert files_url(client, "desk-1") == "/api/v1/machines/1/files"


def files_url(client, machine: str) -> str:
    page = client.get(f"/view/{machine}").data.decode()
    return re.search(r'id="files-open"[^>]*data-files="([^"]*)"', page).group(1)


def test_refusals_before_the_pc_are_audited_too(gw):
    client, headers = person(gw, "emp")
    assert upload(client, headers, "desk-1", name="").status_code == 400
    assert client.get("/api/v1/machines/desk-1/files/content?folder=x&name=a.txt").status_code == 400
    other, other_headers = person(gw, "other")
    assert upload(other, other_headers, "lab-1", name="x.txt").status_code == 403      # not theirs
    assert upload(client, headers, "desk-1", name="y.txt").status_code == 409          # offline
    assert [(who, pc, d["outcome"]) for who, pc, d in file_audit(gw, "file.upload")] == [
        ("emp", "desk-1", "refused: no file name"), ("other", "lab-1", "refused: not granted"),
        ("emp", "desk-1", "refused: the PC is offline")]
    assert [d["outcome"] for _, _, d in file_audit(gw, "file.download")] == ["refused: no such file in the list"]


#: A name as a hostile browser may send it: markup, a bidi override, a terminal escape, a newline,
#: and more than an audit row holds.
HOSTILE = "<img src=x onerror=alert(1)>\u202etxt.exe\x1b[2J\n" + "A" * 300
#: How its row shows it: without the controls and the override (the newline a space), cut to
#: 150 characters ending with "…".
HOSTILE_SHOWN = "<img src=x onerror=alert(1)>txt.exe[2J " + "A" * 110 + "…"


def test_a_hostile_name_is_audited_as_text_an_admin_can_read_safely(gw):
    """The name a browser gives is attacker text: the audit row keeps it without its control
    and bidi characters, cut to fit the row (whose JSON is never cut), and the audit page
    escapes it."""
    client, headers = person(gw, "emp")
    assert upload(client, headers, "desk-1", name=quote(HOSTILE, safe="")).status_code == 409   # offline: audited
    assert download(client, "desk-1", name=quote(HOSTILE, safe="")).status_code == 409
    quotes = '\\"' * 500   # JSON doubles each: the cut counts what the row will hold
    assert upload(client, headers, "desk-1", name=quote(quotes, safe="")).status_code == 409
    assert [d["name"] for _, _, d in file_audit(gw, "file.upload")] == [HOSTILE_SHOWN, '\\"' * 37 + "…"]
    assert [d["name"] for _, _, d in file_audit(gw, "file.download")] == [HOSTILE_SHOWN]
    boss, _ = person(gw, "boss")
    page = boss.get("/admin/audit?action=file.upload").data.decode()
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "<img src=x" not in page


def test_resume_arguments_are_checked(gw):
    client, headers = person(gw, "emp")
    for query in ("upload=xyz", "upload=" + "A" * 32, "offset=5", "upload=" + "a" * 32 + "&offset=-1",
                  "upload=" + "a" * 32 + "&offset=1e3"):
        resp = client.post(f"/api/v1/machines/desk-1/files?name=a.txt&{query}", data=b"x",
                           headers={**headers, "Content-Type": "application/octet-stream"})
        assert resp.status_code == 400, query
    assert client.get("/api/v1/machines/desk-1/files/uploads/nothex?name=a").status_code == 400
    assert client.get(f"/api/v1/machines/desk-1/files/uploads/{'a' * 32}").status_code == 400   # no name
    assert client.get(f"/api/v1/machines/desk-1/files/uploads/{'a' * 32}?name=a").status_code == 409  # offline
    assert client.delete(f"/api/v1/machines/desk-1/files/uploads/{'a' * 32}?name=a",
                         headers=headers).status_code == 409


def test_the_policy_api_and_audit_carry_the_new_settings(gw):
    client, headers = person(gw, "boss")
    resp = client.put("/api/v1/machines/desk-1/policy", json={"file_transfer": "upload", "record": True,
                                                              "retention_days": 30}, headers=headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    policy = resp.get_json()["policy"]
    assert (policy["file_transfer"], policy["record"], policy["retention_days"]) == ("upload", True, 30)
    resp = client.put("/api/v1/machines/desk-1/policy", json={"record": None}, headers=headers)
    assert resp.get_json()["policy"]["record"] is None
    with gw.app_context():
        details = [e.detail for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "policy_set").order_by(AuditEvent.id))]
    assert details == ["file_transfer=upload, record=on, retention_days=30",
                       "file_transfer=upload, retention_days=30"]


def test_the_admin_page_sets_files_and_recording(gw):
    client, _ = person(gw, "boss")
    with gw.app_context():
        desk = ops.get_machine("desk-1").id
    page = client.get(f"/admin/machines/{desk}/policy").get_data(as_text=True)
    assert 'name="file_transfer"' in page and 'name="record"' in page and 'name="retention_days"' in page
    from tests.support.web import csrf_from

    resp = client.post(f"/admin/machines/{desk}/policy", data={
        "csrf_token": csrf_from(page), "file_transfer": "download", "record": "on", "retention_days": "14"})
    assert resp.status_code == 302
    with gw.app_context():
        rules = policy_ops.get_rules(ops.get_machine("desk-1"))
    assert (rules.file_transfer, rules.record, rules.retention_days) == ("download", True, 14)
    resp = client.post(f"/admin/machines/{desk}/policy", data={
        "csrf_token": csrf_from(page), "file_transfer": "", "record": "", "retention_days": "many"},
        follow_redirects=True)
    assert "Days must be a whole number" in resp.get_data(as_text=True)
    with gw.app_context():
        assert policy_ops.get_rules(ops.get_machine("desk-1")).retention_days == 14  # unchanged


# -- recording -------------------------------------------------------------------------------------

def opened(app, name, machine):
    client, headers = person(app, name)
    resp = client.post(f"/api/v1/machines/{machine}/sessions", json={}, headers=headers)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    body = resp.get_json()
    record = app.extensions["ponte.live"].consume_ticket(body["ticket"]).terms.record
    assert (body["recording"] is not None) is record  # the notice comes with every recorded session
    return record


def test_recording_per_pc_group_and_global(gw):
    assert opened(gw, "emp", "desk-1") is False             # the setting: off
    set_policy(gw, "machine:desk-1", record=True)
    assert opened(gw, "emp", "desk-1") is True
    assert opened(gw, "emp", "lab-1") is False
    set_policy(gw, None, record=True)
    assert opened(gw, "emp", "lab-1") is True
    set_policy(gw, "machine:lab-1", record=False)            # the PC's own word
    assert opened(gw, "emp", "lab-1") is False


def test_one_recording_group_records_whoever_is_also_in_another(gw):
    set_policy(gw, "group:accounts", record=False)
    set_policy(gw, "group:contractors", record=True)
    assert opened(gw, "other", "desk-1") is True
    assert opened(gw, "emp", "desk-1") is False              # not through those groups


def _recorded(app, machine, user, days_ago):
    with app.app_context():
        session = uuid.uuid4().hex
        sink = recording.storage().create(session)
        sink.write(b"x")
        sink.close()
        m, u = ops.get_machine(machine), ops.get_user(user)
        ended = utcnow() - timedelta(days=days_ago)
        db.session.add(SessionRecord(id=session, user_id=u.id, user_name=u.name, machine_id=m.id,
                                     machine_name=m.name, started_at=ended - timedelta(minutes=5), ended_at=ended,
                                     recording=recording.RECORDED))
        db.session.commit()
        return session


def test_retention_per_pc_and_group(gw):
    set_policy(gw, None, retention_days=60)
    set_policy(gw, "machine:lab-1", retention_days=10)
    set_policy(gw, "group:accounts", retention_days=5)
    set_policy(gw, "group:contractors", retention_days=0)    # for ever: the longest wins
    lab_old, lab_new = _recorded(gw, "lab-1", "emp", 11), _recorded(gw, "lab-1", "emp", 9)
    desk_old, desk_new = _recorded(gw, "desk-1", "emp", 61), _recorded(gw, "desk-1", "emp", 59)
    kept = _recorded(gw, "desk-1", "other", 400)
    with gw.app_context():
        purged = recordings_ops.purge()
        assert sorted(purged) == sorted([lab_old, desk_old])
        store = recording.storage()
        assert all(store.exists(s) for s in (lab_new, desk_new, kept))
        details = [e.detail for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "recording_delete").order_by(AuditEvent.id))]
    assert sorted(details) == sorted([f"{lab_old} (emp): older than 10 days", f"{desk_old} (emp): older than 60 days"])
    # --days: one retention for every PC, as before
    with gw.app_context():
        assert sorted(recordings_ops.purge(days=8)) == sorted([lab_new, desk_new, kept])
