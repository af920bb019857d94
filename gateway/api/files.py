"""Files to and from a granted PC: ``GET machines/<m>/files`` (what may be fetched, and the policy),
``POST machines/<m>/files?name=`` (the body is the file), ``GET machines/<m>/files/content?folder=&name=``.

Resumable uploads: the browser names its upload (``&upload=`` 32 hex digits of its own) and,
after a broken connection, asks ``GET machines/<m>/files/uploads/<upload>?name=`` how far the
PC got (``offset``), then sends the rest: ``POST …?name=&upload=&offset=`` with the file from
``offset`` on. ``DELETE machines/<m>/files/uploads/<upload>?name=`` is its Cancel. The agent
keys the part file by the person and the upload (``_upload_key``): nobody resumes another's.

Plain HTTP, streamed both ways (``gateway.files`` relays it to the agent's file
stream piece by piece): the browser gets upload progress and cancel for free
(``XMLHttpRequest.upload``, ``abort()``), a download is an ordinary response
with a length, and a proxy or balancer in front needs nothing new. A browser
WebSocket would have needed framing, flow control and resumption of our own.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from flask import Response, current_app, jsonify, request, stream_with_context
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import ClientDisconnected

from agents.protocol import filestream as fs

from .. import files, policy
from ..errors import AgentUnavailable, ApiError
from ..extensions import db
from ..models import Machine, machine_for_user
from ..security import hash_token
from ..ops import policy as policy_ops
from . import bp
from .inputs import who

#: What the browser names its upload with (``crypto.getRandomValues``, as hex).
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
#: HTTP answers for the agent's refusals.
_STATUS = {"too_large": 413, "not_found": 404, "bad_name": 400, "refused": 403, "io": 502, "incomplete": 502}


def _granted(machine: str, direction: str | None) -> tuple[Machine, policy.Decision]:
    """The PC and what its policy lets the caller do there, if they may open it and files may go
    ``direction`` (None: either way; ``ops.policy.decide``: the PC's, their groups', the global)."""
    found = machine_for_user(current_user, machine)
    if found is None or found.revoked_at is not None:
        if direction is not None:  # a transfer refused is a transfer audited (the PC as it was named)
            _audit(direction, found.name if found else machine[:128], request.args.get("name", ""),
                   request.content_length or 0, "refused: not granted" if found is None else "refused: revoked")
        if found is None:
            raise ApiError(403, "forbidden", _("You may not open this PC."))
        raise ApiError(409, "unavailable", _("This PC's access was revoked by an admin."))
    decision = policy_ops.decide(current_user, found)
    if decision.file_transfer == "none" or (direction is not None and not decision.files_may(direction)):
        if direction is not None:
            _audit(direction, found, request.args.get("name", ""), request.content_length or 0,
                   f"refused: the PC's policy is {decision.file_transfer}")
        raise ApiError(403, "files_off", _refusal_text(decision.file_transfer))
    return found, decision


def _refusal_text(ways: str) -> str:
    if ways == "upload":
        return _("Files may not be fetched from this PC: its policy lets files only be sent to it.")
    if ways == "download":
        return _("Files may not be sent to this PC: its policy lets files only be fetched from it.")
    return _("Files may not be sent to or fetched from this PC (its policy).")


def _audit(direction: str, machine: Machine | str, name: str, size: int, outcome: str, actor=None, *,
           asked: str | None = None) -> None:
    """``name``: the file's on the PC, or the one asked for when it got none (refused);
    ``asked``: the one the person gave, when the PC named the file (``files.audit_transfer``)."""
    who_ = actor or who()
    files.audit_transfer(direction, actor=who_["actor"], ip=who_["ip"],
                         machine=machine if isinstance(machine, str) else machine.name, name=name, size=size,
                         outcome=outcome, asked=asked)


def _hub():
    return current_app.extensions["ponte.hub"]


def _open(machine: Machine, op: str, *, audited: tuple | None = None, **kwargs) -> files.FileStream:
    """The agent's file stream for ``op``; 409 if the PC is offline (audited as a refused
    transfer when ``audited`` is ``(name, size)``)."""
    machine_id, machine_name, actor = machine.id, machine.name, who()
    offline = _("The PC is offline: its Ponte agent is not connected.")
    db.session.remove()  # no database connection held while a file travels (no ``_()`` after this)
    try:
        return files.open_stream(_hub(), machine_id, op, **kwargs)
    except AgentUnavailable:
        if audited is not None:
            _audit(op, machine_name, *audited, "refused: the PC is offline", actor)
        raise ApiError(409, "offline", offline) from None


def _refused(exc: files.TransferRefused) -> ApiError:
    return ApiError(_STATUS.get(exc.code, 502), exc.code, str(exc))


@bp.before_app_request
def _files_may_be_large():
    """The app's 1 MiB bound on bodies is for forms and JSON: an upload's body is bounded by
    its own Content-Length, which the view checks against ``file_max_bytes`` (and audits).

    App-wide, so it runs before the API's own ``_authenticate``, whose CSRF check touches
    the body's stream (and so its bound) first.
    """
    if request.endpoint == "api.machine_file_upload":
        request.max_content_length = 2**63  # None would mean "the app's bound"


@bp.get("/machines/<machine>/files")
def machine_files(machine: str):
    """The files the caller may fetch from the PC (none asked for when downloads are off)."""
    found, decision = _granted(machine, None)
    settings = current_app.config["PONTE"]
    answer = {"policy": decision.file_transfer, "max_bytes": settings.file_max_bytes, "folders": [], "files": []}
    if not decision.files_may(files.DOWNLOAD):
        return jsonify(answer)
    stream = _open(found, "list")
    try:
        listed = files.listing(stream)
    except files.TransferRefused as exc:
        raise _refused(exc) from None
    finally:
        stream.close()
    answer["folders"] = list(listed.folders)
    answer["files"] = [{"folder": e.folder, "name": e.name, "size": e.size, "mtime": e.mtime} for e in listed.files]
    return jsonify(answer)


@bp.post("/machines/<machine>/files")
def machine_file_upload(machine: str):
    """Put the request's body on the PC as ``?name=`` (made safe by the agent); 201 with the saved name."""
    found, _decision = _granted(machine, files.UPLOAD)
    settings = current_app.config["PONTE"]
    name, length = request.args.get("name", ""), request.content_length
    offset, key = _resume_args()
    size = None if length is None else offset + length  # the whole file's
    machine_name, actor = found.name, who()
    if not name or len(name) > 1024:
        _audit(files.UPLOAD, found, name, size or 0, "refused: no file name")
        raise ApiError(400, "bad_name", _("Name the file (?name=…)."))
    if size is None:
        _audit(files.UPLOAD, found, name, 0, "refused: no length")
        raise ApiError(411, "length_required", _("Send the file's length (Content-Length)."))
    if size > settings.file_max_bytes:
        _audit(files.UPLOAD, found, name, size, "refused: over the gateway's limit")
        raise ApiError(413, "too_large", _("Files of at most %(n)s bytes may be sent.", n=settings.file_max_bytes))
    stream = _open(found, "upload", audited=(name, size), name=name, size=size, upload=key)
    outcome, saved, header = "failed", None, None
    try:
        header = files.first_answer(stream)
        if header.resumable and offset > header.offset:
            raise files.TransferRefused("incomplete", f"The PC has {header.offset} bytes of this file: "
                                                      "resume from there.")
        saved = files.send_file(stream, _body_pieces(), length, header=header, offset=offset)
        outcome = f"ok (resumed from byte {offset})" if offset else "ok"
    except files.TransferRefused as exc:
        if exc.code != "incomplete":
            outcome = f"refused: {exc}"
        else:
            resumable = header is not None and header.resumable
            outcome = "interrupted: the PC keeps what came, to resume" if resumable else "cancelled"
        raise _refused(exc) from None
    finally:
        stream.close()
        # The name the PC gave it (saved, or about to be when it stopped) and the one asked for.
        on_pc = saved.name if saved else header.name if header else name
        _audit(files.UPLOAD, machine_name, on_pc, size, outcome, actor, asked=name)
    return jsonify(file={"name": saved.name, "size": saved.size, "asked": header.name}), 201


def _resume_args() -> tuple[int, str]:
    """``offset`` and the agent's key of ``upload`` from the query (0 and "" when not resumable)."""
    upload, offset = request.args.get("upload", ""), request.args.get("offset", "0")
    if upload and not _UPLOAD_ID.fullmatch(upload):
        raise ApiError(400, "bad_request", _("An upload is named by 32 hexadecimal digits."))
    if not offset.isascii() or not offset.isdigit() or len(offset) > 16 or (int(offset) and not upload):
        raise ApiError(400, "bad_request", _("Resume an upload from a byte offset (&upload=…&offset=…)."))
    return int(offset), _upload_key(upload) if upload else ""


def _upload_key(upload: str) -> str:
    """The agent's name for the caller's upload: another person's same id is another file."""
    return hash_token(f"{current_user.id}:{upload}")[:32]


def _upload_stream(machine: str, upload: str) -> tuple[files.FileStream, fs.Header, str, str]:
    found, _decision = _granted(machine, files.UPLOAD)
    name = request.args.get("name", "")
    if not _UPLOAD_ID.fullmatch(upload) or not name or len(name) > 1024:
        raise ApiError(400, "bad_request", _("Name the upload and its file (?name=…)."))
    machine_name = found.name
    stream = _open(found, "upload", name=name, size=0, upload=_upload_key(upload))
    try:
        return stream, files.first_answer(stream), machine_name, name
    except files.TransferRefused as exc:
        stream.close()
        raise _refused(exc) from None


@bp.get("/machines/<machine>/files/uploads/<upload>")
def machine_file_upload_state(machine: str, upload: str):
    """How much of the caller's upload the PC has (``offset``; 0 and ``resumable`` false when
    its agent does not resume: send the whole file again)."""
    stream, header, _machine, _name = _upload_stream(machine, upload)
    stream.close()  # before anything comes: the agent keeps the part
    return jsonify(upload={"offset": header.offset, "resumable": header.resumable})


@bp.delete("/machines/<machine>/files/uploads/<upload>")
def machine_file_upload_discard(machine: str, upload: str):
    """Cancel the caller's interrupted upload: the PC drops what it received (audited)."""
    actor = who()
    stream, header, machine_name, name = _upload_stream(machine, upload)
    try:
        files.discard(stream, header)
    finally:
        stream.close()
        _audit(files.UPLOAD, machine_name, header.name or name, header.offset, "cancelled", actor, asked=name)
    return "", 204


def _body_pieces():
    body = request.stream
    while True:
        try:
            piece = body.read(fs.CHUNK)
        except (OSError, ValueError, ClientDisconnected):  # the browser went away mid-file (cancel)
            return
        if not piece:
            return
        yield piece


@bp.get("/machines/<machine>/files/content")
def machine_file_download(machine: str):
    """One file from the PC's shared folders (``folder`` and ``name`` from the listing), streamed."""
    found, _decision = _granted(machine, files.DOWNLOAD)
    settings = current_app.config["PONTE"]
    name, folder = request.args.get("name", ""), request.args.get("folder", "0")
    if not folder.isascii() or not folder.isdigit() or len(folder) > 3 or not name or len(name) > 1024:
        _audit(files.DOWNLOAD, found, name, 0, "refused: no such file in the list")
        raise ApiError(400, "bad_request", _("Name a file from the list (folder and name)."))
    machine_name, actor = found.name, who()
    # Worded now: once the stream is open the request holds no database session, and the
    # locale is read from the logged-in person.
    too_large = _("Files of at most %(n)s bytes may be fetched.", n=settings.file_max_bytes)
    stream = _open(found, "download", audited=(name, 0), folder=int(folder), name=name)
    try:
        header = files.first_answer(stream)
        if header.size > settings.file_max_bytes:
            raise files.TransferRefused("too_large", too_large)
    except files.TransferRefused as exc:
        stream.close()
        _audit(files.DOWNLOAD, machine_name, name, 0, f"refused: {exc}", actor)
        raise _refused(exc) from None

    started = []

    def pieces():
        started.append(True)
        outcome = "cancelled"  # unless it reaches the end: the browser went away
        try:
            yield from files.receive_file(stream, header.size)
            outcome = "ok"
        except files.TransferRefused as exc:
            outcome = f"failed: {exc}"  # the response ends short: the browser says the download failed
        finally:
            stream.close()
            _audit(files.DOWNLOAD, machine_name, header.name, header.size, outcome, actor, asked=name)

    def never_started():
        # A generator closed before its first step skips its ``finally``: the browser left
        # before the body began. Release the agent's stream and record it all the same.
        if not started:
            stream.close()
            with app.app_context():  # the request's context is gone by now
                _audit(files.DOWNLOAD, machine_name, header.name, header.size, "cancelled", actor, asked=name)
                db.session.remove()

    app = current_app._get_current_object()

    resp = Response(stream_with_context(pieces()), mimetype="application/octet-stream", headers={
        "Content-Length": str(header.size), "Cache-Control": "no-store",
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(header.name, safe='')}",
        "X-Content-Type-Options": "nosniff"})
    resp.call_on_close(never_started)
    return resp
