"""Files to and from the office PC through a real gateway and a real agent (issue 15, Files).

The agent's upload folder and shared folder are temporary folders; what the
HTTP API takes must be on disk byte for byte, what it gives must be the file;
every transfer leaves an audit row; the gateway's policy and both size limits
refuse what they must.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
from urllib.parse import quote, urlencode

import pytest

from tests.conftest import _prefixes
from tests.support import AgentProcess, Gateway, WebClient, free_port, wait_for

# The module's gateway, agent and logins take minutes on a loaded two-core machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

AGENT_LIMIT = 52 * 1024 * 1024
GATEWAY_LIMIT = 58 * 1024 * 1024
BIG = 50 * 1024 * 1024
#: No VNC server behind this agent: files need none ("vnc_down" is an online agent).
ONLINE = ("online", "vnc_down")


def _start(gw: Gateway, *, restart: bool = False) -> None:
    """Start (or restart) ``gw``, giving it longer than ``Gateway.start``'s 20 s when the machine is busy."""
    try:
        gw.restart() if restart else gw.start()
    except TimeoutError:
        wait_for(gw._ready, timeout=120, interval=0.5, what="gateway listening")


@pytest.fixture(scope="module")
def files_stack(tmp_path_factory, redis_server):
    base = tmp_path_factory.mktemp("files")
    inbox, shared = base / "inbox", base / "shared"
    shared.mkdir()
    gw = Gateway(base / "gateway", free_port(), redis_server,
                 extra_env={"PONTE_REDIS_PREFIX": f"f{os.getpid()}-{next(_prefixes)}:",
                            "PONTE_LOGIN_LIMIT": "1000 per minute", "PONTE_FILE_MAX_BYTES": str(GATEWAY_LIMIT)})
    agent = AgentProcess(base / "agent", gw.url, None, extra_args=(
        "--files-folder", str(inbox), "--files-download-folders", f"{shared},{inbox}",
        "--files-max-bytes", str(AGENT_LIMIT)))
    try:  # a setup that fails half-way still stops what it started
        _start(gw)
        gw.add_user("emp", "emppass12")
        gw.add_user("other", "otherpass1")
        gw.add_user("boss", "bosspass12", admin=True)
        code = gw.add_machine("office-pc")
        gw.cli("grant", "emp", "office-pc")
        agent.enroll(code)
        agent.start()
        wait_for(lambda: gw.machine_state("office-pc") in ONLINE, timeout=60, interval=0.5, what="agent online")
        yield gw, agent, inbox, shared
    finally:
        agent.stop()
        gw.stop()


_clients: dict = {}


def Files(gw: Gateway, user: str = "emp", password: str = "emppass12") -> FileClient:
    """One logged-in client per user and gateway start (a login costs an argon2 hash)."""
    key = (gw.port, user, gw.proc.pid)
    if key not in _clients:
        _clients[key] = FileClient(gw, user, password)
    return _clients[key]


class FileClient:
    """The file API as the viewer page calls it: the login cookie, the CSRF header, raw bodies."""

    def __init__(self, gw: Gateway, user: str = "emp", password: str = "emppass12", machine: str = "office-pc"):
        self.web = WebClient(gw.url, user, password)
        self.port = gw.port
        self.base = f"/api/v1/machines/{quote(machine, safe='')}/files"

    def _conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def headers(self) -> dict:
        return {"Cookie": self.web.http.cookie_header(), "X-CSRFToken": self.web.forwarder.csrf}

    def upload(self, name: str, data: bytes) -> tuple[int, dict]:
        conn = self._conn()
        conn.request("POST", f"{self.base}?{urlencode({'name': name})}", body=data,
                     headers={**self.headers(), "Content-Type": "application/octet-stream"})
        resp = conn.getresponse()
        body = json.loads(resp.read() or b"{}")
        conn.close()
        return resp.status, body

    def listing(self) -> tuple[int, dict]:
        conn = self._conn()
        conn.request("GET", self.base, headers=self.headers())
        resp = conn.getresponse()
        body = json.loads(resp.read() or b"{}")
        conn.close()
        return resp.status, body

    def download(self, folder: int, name: str):
        conn = self._conn()
        conn.request("GET", f"{self.base}/content?{urlencode({'folder': folder, 'name': name})}",
                     headers=self.headers())
        resp = conn.getresponse()
        return conn, resp


def audit_rows(gw: Gateway, action: str) -> list[dict]:
    boss = Files(gw, "boss", "bosspass12").web
    rows = boss.json("GET", "/api/v1/audit?limit=1000")["audit"]
    return [r for r in rows if r["action"] == action]


@pytest.mark.parametrize("name,data", [("empty.txt", b""), ("one.bin", b"\x7f")])
def test_tiny_uploads_land_in_the_upload_folder(files_stack, name, data):
    gw, _agent, inbox, _shared = files_stack
    status, body = Files(gw).upload(name, data)
    assert status == 201, body
    assert body["file"] == {"name": name, "size": len(data), "asked": name}
    assert (inbox / name).read_bytes() == data
    row = next(r for r in audit_rows(gw, "file.upload") if f'"{name}"' in r["detail"])
    assert (row["actor"], row["target"]) == ("emp", "office-pc")
    assert json.loads(row["detail"]) == {"name": name, "size": len(data), "outcome": "ok"}


def test_a_hostile_name_lands_as_a_plain_file_in_the_upload_folder(files_stack):
    gw, _agent, inbox, _shared = files_stack
    status, body = Files(gw).upload("../../..\\CON.txt", b"payload")
    assert status == 201, body
    assert body["file"]["name"] == "_CON.txt"
    assert (inbox / "_CON.txt").read_bytes() == b"payload"
    assert sorted(p.name for p in inbox.parent.iterdir() if p.is_file()) == []  # nothing climbed out
    status, body = Files(gw).upload("..", b"x")
    assert status == 400 and body["error"]["code"] == "bad_name"
    # Both audited: the saved file under the name it got and the name the browser gave (what
    # an admin needs to see), the refused one under the name asked for.
    details = [json.loads(r["detail"]) for r in audit_rows(gw, "file.upload")]
    assert {"name": "_CON.txt", "asked": "../../..\\CON.txt", "size": 7, "outcome": "ok"} in details
    assert any(d["name"] == ".." and d["outcome"].startswith("refused") for d in details), details


def test_an_existing_file_is_never_overwritten(files_stack):
    gw, _agent, inbox, _shared = files_stack
    f = Files(gw)
    assert f.upload("twice.txt", b"first")[0] == 201
    status, body = f.upload("twice.txt", b"second")
    assert status == 201 and body["file"]["name"] == "twice (2).txt"
    assert (inbox / "twice.txt").read_bytes() == b"first" and (inbox / "twice (2).txt").read_bytes() == b"second"


def test_50_mb_up_and_down_byte_for_byte(files_stack):
    gw, _agent, inbox, shared = files_stack
    data = os.urandom(BIG)
    f = Files(gw)
    status, body = f.upload("big.bin", data)
    assert status == 201, body
    assert hashlib.sha256((inbox / "big.bin").read_bytes()).digest() == hashlib.sha256(data).digest()
    # Down again: the upload folder is the second shared folder.
    status, listing = f.listing()
    assert status == 200, listing
    entry = next(e for e in listing["files"] if e["name"] == "big.bin")
    assert listing["folders"][entry["folder"]] == str(inbox) and entry["size"] == BIG
    conn, resp = f.download(entry["folder"], "big.bin")
    assert resp.status == 200 and int(resp.headers["Content-Length"]) == BIG
    assert "big.bin" in resp.headers["Content-Disposition"]
    got = resp.read()
    conn.close()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    rows = wait_for(lambda: [r for r in audit_rows(gw, "file.download") if '"big.bin"' in r["detail"]],
                    what="download audited")
    assert json.loads(rows[0]["detail"]) == {"name": "big.bin", "size": BIG, "outcome": "ok"}
    assert rows[0]["actor"] == "emp" and rows[0]["target"] == "office-pc"


def test_download_of_a_tiny_file_and_of_nothing_there(files_stack):
    gw, _agent, _inbox, shared = files_stack
    (shared / "zero.txt").write_bytes(b"")
    (shared / "a.txt").write_bytes(b"A")
    os.symlink("/etc/passwd", shared / "link")
    f = Files(gw)
    status, listing = f.listing()
    names = {e["name"] for e in listing["files"] if e["folder"] == 0}
    assert {"zero.txt", "a.txt"} <= names and "link" not in names  # a link could point anywhere
    for name, data in (("zero.txt", b""), ("a.txt", b"A")):
        conn, resp = f.download(0, name)
        assert resp.status == 200 and resp.read() == data
        conn.close()
        row = wait_for(lambda: [r for r in audit_rows(gw, "file.download") if f'"{name}"' in r["detail"]],
                       what=f"download of {name} audited")[0]
        assert row["actor"] == "emp" and json.loads(row["detail"]) == {"name": name, "size": len(data), "outcome": "ok"}
    for folder, name in ((0, "link"), (0, "../shared/a.txt"), (0, "missing.txt"), (7, "a.txt")):
        conn, resp = f.download(folder, name)
        assert resp.status == 404, (folder, name, resp.read())
        resp.read()
        conn.close()


def test_limits_refuse_before_a_byte_is_written(files_stack):
    gw, _agent, inbox, shared = files_stack
    status, body = Files(gw).upload("huge.bin", bytes(GATEWAY_LIMIT + 1))
    assert status == 413 and body["error"]["code"] == "too_large"
    assert not (inbox / "huge.bin").exists()
    rows = audit_rows(gw, "file.upload")
    assert any(json.loads(r["detail"])["name"] == "huge.bin" and "limit" in json.loads(r["detail"])["outcome"]
               for r in rows)
    # The agent's own limit (lower than the gateway's here): a file it will not send.
    with open(shared / "over.bin", "wb") as fh:
        fh.truncate(AGENT_LIMIT + 1)
    conn, resp = Files(gw).download(0, "over.bin")
    assert resp.status == 413 and json.loads(resp.read())["error"]["code"] == "too_large"
    conn.close()


def test_a_cancelled_upload_leaves_nothing_behind(files_stack):
    gw, _agent, inbox, _shared = files_stack
    inbox.mkdir(exist_ok=True)  # when this test runs alone, before any upload created it
    f = Files(gw)
    conn = f._conn()
    conn.putrequest("POST", f"{f.base}?{urlencode({'name': 'cut.bin'})}")
    for k, v in {**f.headers(), "Content-Type": "application/octet-stream", "Content-Length": str(10 ** 6)}.items():
        conn.putheader(k, v)
    conn.endheaders()
    conn.send(b"x" * 300_000)
    wait_for(lambda: any(p.name.startswith(".ponte-part-") for p in inbox.iterdir()), what="part file")
    conn.close()  # the browser's cancel
    wait_for(lambda: [r for r in audit_rows(gw, "file.upload") if '"cut.bin"' in r["detail"]], timeout=30,
             what="cancel audited")
    wait_for(lambda: not any(p.name.startswith(".ponte-part-") for p in inbox.iterdir()), what="part file gone")
    assert not (inbox / "cut.bin").exists()
    row = next(r for r in audit_rows(gw, "file.upload") if '"cut.bin"' in r["detail"])
    assert json.loads(row["detail"])["outcome"] == "cancelled"


def test_an_interrupted_50_mb_upload_resumes_from_what_the_pc_has(files_stack):
    """The browser's connection drops mid-file: the agent keeps its part, says how far it got,
    takes the rest from there, and the file on the PC is the file, byte for byte."""
    gw, _agent, inbox, _shared = files_stack
    inbox.mkdir(exist_ok=True)
    data, upload = os.urandom(BIG), os.urandom(16).hex()
    f = Files(gw)
    conn = f._conn()
    conn.putrequest("POST", f"{f.base}?{urlencode({'name': 'resumed.bin', 'upload': upload})}")
    for k, v in {**f.headers(), "Content-Type": "application/octet-stream", "Content-Length": str(BIG)}.items():
        conn.putheader(k, v)
    conn.endheaders()
    cut = 20 * 1024 * 1024
    conn.send(data[:cut])
    part = inbox / f".ponte-part-r-{_key_of(gw, upload)}"
    wait_for(lambda: part.exists() and part.stat().st_size > 0, what="part file growing")
    conn.sock.shutdown(2)  # the connection drops (not a polite close)
    conn.close()
    wait_for(lambda: [r for r in audit_rows(gw, "file.upload") if '"resumed.bin"' in r["detail"]], timeout=60,
             what="interruption audited")
    row = next(r for r in audit_rows(gw, "file.upload") if '"resumed.bin"' in r["detail"])
    assert json.loads(row["detail"])["outcome"] == "interrupted: the PC keeps what came, to resume"
    assert not (inbox / "resumed.bin").exists()
    # How far did the PC get? (asked until the agent has let go of the broken transfer)
    state = wait_for(lambda: _upload_state(f, upload, "resumed.bin"), timeout=60, what="upload state")
    offset = state["offset"]
    assert state["resumable"] and 0 < offset <= cut and part.stat().st_size == offset
    conn = f._conn()
    conn.request("POST", f"{f.base}?{urlencode({'name': 'resumed.bin', 'upload': upload, 'offset': offset})}",
                 body=data[offset:], headers={**f.headers(), "Content-Type": "application/octet-stream"})
    resp = conn.getresponse()
    body = json.loads(resp.read())
    conn.close()
    assert resp.status == 201, body
    assert body["file"] == {"name": "resumed.bin", "size": BIG, "asked": "resumed.bin"}
    assert hashlib.sha256((inbox / "resumed.bin").read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    assert not part.exists()
    rows = [json.loads(r["detail"]) for r in audit_rows(gw, "file.upload") if '"resumed.bin"' in r["detail"]]
    assert {"name": "resumed.bin", "size": BIG, "outcome": f"ok (resumed from byte {offset})"} in rows
    # Someone else's same upload id is not theirs to resume: another part file altogether.
    assert _key_of(gw, upload, "boss") != _key_of(gw, upload)


def test_a_cancelled_resumable_upload_is_dropped_on_the_pc(files_stack):
    gw, _agent, inbox, _shared = files_stack
    inbox.mkdir(exist_ok=True)
    upload, f = os.urandom(16).hex(), Files(gw)
    conn = f._conn()
    conn.putrequest("POST", f"{f.base}?{urlencode({'name': 'dropped.bin', 'upload': upload})}")
    for k, v in {**f.headers(), "Content-Type": "application/octet-stream", "Content-Length": str(10 ** 6)}.items():
        conn.putheader(k, v)
    conn.endheaders()
    conn.send(b"y" * 300_000)
    part = inbox / f".ponte-part-r-{_key_of(gw, upload)}"
    wait_for(lambda: part.exists() and part.stat().st_size > 0, what="part file")
    conn.close()
    wait_for(lambda: _upload_state(f, upload, "dropped.bin"), timeout=60, what="upload state")
    def discarded():
        conn = f._conn()
        conn.request("DELETE", f"{f.base}/uploads/{upload}?{urlencode({'name': 'dropped.bin'})}", headers=f.headers())
        resp = conn.getresponse()
        resp.read()
        conn.close()
        return resp.status == 204 or None
    wait_for(discarded, timeout=30, what="discarded")
    wait_for(lambda: not part.exists(), what="part file gone")
    outcomes = [json.loads(r["detail"])["outcome"] for r in audit_rows(gw, "file.upload") if '"dropped.bin"' in r["detail"]]
    assert "cancelled" in outcomes and "interrupted: the PC keeps what came, to resume" in outcomes


def _key_of(gw: Gateway, upload: str, user: str = "emp") -> str:
    """The agent's name for ``user``'s upload (``api.files._upload_key``), from the user's id."""
    users = Files(gw, "boss", "bosspass12").web.json("GET", "/api/v1/users")["users"]
    uid = next(u["id"] for u in users if u["name"] == user)
    return hashlib.sha256(f"{uid}:{upload}".encode()).hexdigest()[:32]


def _upload_state(f: FileClient, upload: str, name: str):
    conn = f._conn()
    conn.request("GET", f"{f.base}/uploads/{upload}?{urlencode({'name': name})}", headers=f.headers())
    resp = conn.getresponse()
    body = json.loads(resp.read() or b"{}")
    conn.close()
    return body["upload"] if resp.status == 200 else None  # 403 "still receiving" until the agent lets go


def test_uploads_are_audited_with_who_what_and_how_it_ended(files_stack):
    gw, _agent, _inbox, _shared = files_stack
    assert Files(gw).upload("audited.txt", b"12345")[0] == 201
    row = next(r for r in audit_rows(gw, "file.upload") if '"audited.txt"' in r["detail"])
    assert row["actor"] == "emp" and row["target"] == "office-pc" and row["ip"] == "127.0.0.1"
    assert json.loads(row["detail"]) == {"name": "audited.txt", "size": 5, "outcome": "ok"}


def test_only_someone_who_may_open_the_pc(files_stack):
    gw, _agent, _inbox, _shared = files_stack
    other = Files(gw, "other", "otherpass1")
    assert other.upload("x.txt", b"x")[0] == 403
    assert other.listing()[0] == 403
    conn, resp = other.download(0, "a.txt")
    assert resp.status == 403
    conn.close()


def test_a_pcs_policy_refuses_downloads_with_a_clear_error_and_an_audit_row(files_stack):
    """The PC's own policy (``python -m gateway policy set --machine``), no restart: the agent
    has the file, the download is refused before the gateway asks for it, and audited."""
    gw, _agent, _inbox, shared = files_stack
    (shared / "secret.txt").write_bytes(b"not for you")
    f = Files(gw)
    gw.cli("policy", "set", "--machine", "office-pc", "--file-transfer", "upload")
    try:
        conn, resp = f.download(0, "secret.txt")
        error = json.loads(resp.read())["error"]
        conn.close()
        assert resp.status == 403 and error["code"] == "files_off"
        assert error["message"] == ("Files may not be fetched from this PC: its policy lets files only be "
                                    "sent to it.")
        rows = [(r["actor"], r["target"], json.loads(r["detail"])) for r in audit_rows(gw, "file.download")]
        assert ("emp", "office-pc", {"name": "secret.txt", "size": 0,
                                     "outcome": "refused: the PC's policy is upload"}) in rows
        status, listing = f.listing()
        assert status == 200 and listing["policy"] == "upload" and listing["files"] == []
        status, body = f.upload("allowed.txt", b"in")   # the other way still works, on the real agent
        assert status == 201, body
    finally:
        gw.cli("policy", "set", "--machine", "office-pc", "--unset", "file_transfer")
    conn, resp = f.download(0, "secret.txt")
    assert resp.status == 200 and resp.read() == b"not for you"
    conn.close()


def test_policy_refuses_and_audits(files_stack):
    """Last in the module: the gateway restarts with uploads only (its setting: the default
    below every policy level)."""
    gw, _agent, inbox, _shared = files_stack
    gw.extra_env["PONTE_FILE_TRANSFER"] = "upload"
    _start(gw, restart=True)
    wait_for(lambda: gw.machine_state("office-pc") in ONLINE, timeout=30, interval=0.3, what="agent back")
    f = Files(gw)
    conn, resp = f.download(0, "a.txt")
    assert resp.status == 403 and json.loads(resp.read())["error"]["code"] == "files_off"
    conn.close()
    status, listing = f.listing()
    assert status == 200 and listing["policy"] == "upload" and listing["files"] == []
    assert wait_for(lambda: f.upload("still.txt", b"ok")[0] == 201 or None, timeout=15, what="upload")
    rows = [json.loads(r["detail"]) for r in audit_rows(gw, "file.download")]
    assert {"name": "a.txt", "size": 0, "outcome": "refused: the PC's policy is upload"} in rows
