"""One file transfer on the agent: the file stream ⇄ a file in an allowed folder.

The gateway asks on the control channel (``control.OpenFiles``); this opens
``/ws/agent/files/<transfer>``, attaches it with the one-time token and plays
the agent's side of ``protocol.filestream``:

- *upload*: the name is made safe (``filenames.safe_name``), the size checked
  against ``files_max_bytes``; the agent answers ``Header(safe name, size)``,
  writes the pieces to a hidden part file in the upload folder and, at
  ``End``, gives it its name — never over an existing file (``report (2).pdf``)
  — and answers ``Saved``. A stream that closes before ``End`` (the person
  cancelled, the network broke) leaves nothing behind — unless the upload is
  *resumable* (``OpenFiles.upload`` names its key): then its part file
  (``.ponte-part-r-<key>``) stays, the gateway may ask how far it got and go on
  from there (``filestream``: resuming), or discard it; one left alone for
  ``RESUMABLE_FOR`` is swept at the next upload.
- *download*: only a regular file directly in one of the allowed folders (no
  subfolder, no symbolic link out of it); ``Header``, the pieces, ``End``.
- *list*: the regular files directly in the allowed folders.

Any refusal is a ``Failed(code, message)`` the gateway passes on to the person.

Over 300 lines: the three conversations share the refusals, the part-file rules and the
folder checks, which would otherwise be passed between modules in pieces.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import threading
import time
from pathlib import Path

from .protocol import control
from .protocol import filestream as fs
from .protocol.errors import FileStreamError, UnsafeName
from .protocol.filenames import numbered, safe_name
from .transport import TransportError, open_websocket, websocket_url
from .websocket import FramingError

log = logging.getLogger(__name__)

#: Seconds without a message from the gateway before a transfer is given up.
IDLE_TIMEOUT = 60.0
PART_PREFIX = ".ponte-part-"
#: Seconds a resumable upload's part file is kept after its last piece arrived.
RESUMABLE_FOR = 24 * 3600.0
#: Seconds a resumed upload waits for the broken transfer of the same upload to end.
LET_GO_WAIT = 10.0
_UPLOAD_KEY = re.compile(r"[0-9a-f]{32}")
#: Keys of the resumable uploads being received now: one writer per part file.
_receiving: set[str] = set()
_receiving_lock = threading.Lock()


class Refusal(Exception):
    """A transfer the agent will not do: ``code`` (``filestream.FAILURES``) and a sentence."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class FileTransfer:
    """Serve one ``OpenFiles``; ``run()`` returns when the transfer ended."""

    def __init__(self, settings, gateway: str, event: control.OpenFiles, *, on_failure=None):
        self.settings = settings
        self.gateway = gateway
        self.event = event
        self.on_failure = on_failure
        self.ws = None

    def run(self) -> None:
        event = self.event
        try:
            self.ws = open_websocket(websocket_url(self.gateway, f"/ws/agent/files/{event.transfer}"),
                                     self.settings.tls, max_message=fs.MAX_JSON + 16)
            self.ws.write_message(control.encode(control.Attach(token=event.token)))
        except (TransportError, FramingError, OSError) as exc:
            log.warning("transfer %s: could not open the file stream: %s", event.transfer[:8], exc)
            if self.on_failure is not None:
                self.on_failure(event.transfer, f"the agent could not open the file stream: {exc}")
            return
        self.ws.settimeout(IDLE_TIMEOUT)
        try:
            {"upload": self._upload, "download": self._download, "list": self._list}[event.op]()
        except Refusal as exc:
            log.info("transfer %s (%s) refused: %s", event.transfer[:8], event.op, exc)
            self._send(fs.Failed(exc.code, str(exc)))
        except (OSError, FramingError, FileStreamError) as exc:
            log.info("transfer %s (%s) ended: %s", event.transfer[:8], event.op, exc)
        finally:
            self.ws.close_with(1000, "transfer ended")

    def _send(self, event) -> None:
        try:
            self.ws.write_message(fs.encode(event))
        except (OSError, FramingError):
            pass

    # -- upload --

    def _upload(self) -> None:
        event, limit = self.event, self.settings.files_max_bytes
        try:
            name = safe_name(event.name)
        except UnsafeName as exc:
            raise Refusal("bad_name", str(exc)) from None
        if event.size > limit:
            raise Refusal("too_large", f"The PC takes files of at most {limit} bytes.")
        folder = self.settings.upload_folder
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise Refusal("io", f"The PC cannot create its upload folder: {exc.strerror or exc}") from None
        if event.upload:
            if not _UPLOAD_KEY.fullmatch(event.upload):
                raise Refusal("bad_name", "The upload's key is not valid.")
            self._resumable(folder, name, event.upload)
            return
        part = folder / f"{PART_PREFIX}{event.transfer[:16]}"
        try:
            fh = open(part, "xb")
        except OSError as exc:
            raise Refusal("io", f"The PC cannot write in its upload folder: {exc.strerror or exc}") from None
        kept = False
        try:
            with fh:
                self.ws.write_message(fs.encode(fs.Header(name, event.size)))
                written = self._receive(fh, 0)
                if written is None:
                    return
            self._finish(part, folder, name, written)
            kept = True
        finally:
            if not kept:
                _remove(part)

    def _resumable(self, folder: Path, name: str, key: str) -> None:
        """A resumable upload: say how much of it is here, then go on ``From`` there, or drop
        it (``Discard``); the part stays when the stream closes before ``End``."""
        event = self.event
        # A broken transfer of the same upload may still be letting go (its gateway has not
        # closed it yet): wait for it a little rather than send the person away.
        deadline = time.monotonic() + LET_GO_WAIT
        while True:
            with _receiving_lock:
                if key not in _receiving:
                    _receiving.add(key)
                    _sweep(folder)
                    break
            if time.monotonic() > deadline:
                raise Refusal("refused", "The PC is still receiving this file; try again in a moment.")
            time.sleep(0.2)
        part, keep = folder / f"{PART_PREFIX}r-{key}", True
        try:
            try:
                fd = os.open(part, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise Refusal("io", f"The PC cannot write in its upload folder: {exc.strerror or exc}") from None
            with os.fdopen(fd, "r+b") as fh:
                have = os.fstat(fh.fileno()).st_size
                self.ws.write_message(fs.encode(fs.Header(name, event.size, have, True)))
                message = self.ws.read_message()
                if message is None:
                    return  # asked how far it got, or the gateway went: the part stays
                start = fs.decode(message)
                if isinstance(start, fs.Discard):
                    keep = False
                    log.info("transfer %s: upload %s discarded", event.transfer[:8], key[:8])
                    return
                if not isinstance(start, fs.From):
                    raise FileStreamError(f"unexpected {type(start).__name__} before a resumed upload")
                if start.offset > have:
                    raise Refusal("incomplete", f"The PC has {have} bytes of this file, not {start.offset}.")
                keep = False  # from here a refusal (too many bytes, a disk error) drops it
                fh.truncate(start.offset)
                fh.seek(start.offset)
                written = self._receive(fh, start.offset)
                if written is None:
                    keep = True
                    return
            keep = True  # placed: the part file is now the named file
            self._finish(part, folder, name, written)
        finally:
            if not keep:
                _remove(part)
            with _receiving_lock:
                _receiving.discard(key)

    def _receive(self, fh, written: int) -> int | None:
        """Write the stream's pieces to ``fh`` (``written`` bytes are there already) until
        ``End``: the bytes in all, or ``None`` if the stream closed first."""
        event = self.event
        while True:
            message = self.ws.read_message()
            if message is None:
                log.info("transfer %s: stopped after %d of %d bytes", event.transfer[:8], written, event.size)
                return None
            piece = fs.decode(message)
            if isinstance(piece, fs.End):
                return written
            if not isinstance(piece, fs.Data):
                raise FileStreamError(f"unexpected {type(piece).__name__} in an upload")
            written += len(piece.data)
            if written > event.size:
                raise Refusal("too_large", "More bytes came than the file was said to hold.")
            try:
                fh.write(piece.data)
            except OSError as exc:
                raise Refusal("io", f"The PC could not write the file: {exc.strerror or exc}") from None

    def _finish(self, part: Path, folder: Path, name: str, written: int) -> None:
        if written != self.event.size:
            raise Refusal("incomplete", f"The file ended after {written} of {self.event.size} bytes.")
        final = _place(part, folder, name)
        log.info("transfer %s: saved %s (%d bytes)", self.event.transfer[:8], final, written)
        self._send(fs.Saved(final.name, written))

    # -- download --

    def _download(self) -> None:
        event, limit = self.event, self.settings.files_max_bytes
        path = self._allowed_file(event.folder, event.name)
        try:
            fh = open(path, "rb")
        except OSError as exc:
            raise Refusal("not_found", f"The PC cannot read this file: {exc.strerror or exc}") from None
        with fh:
            size = os.fstat(fh.fileno()).st_size
            if size > limit:
                raise Refusal("too_large", f"The PC sends files of at most {limit} bytes.")
            self.ws.write_message(fs.encode(fs.Header(path.name, size)))
            sent = 0
            while sent < size:
                piece = fh.read(min(fs.CHUNK, size - sent))
                if not piece:
                    break  # shrank while we read: the gateway sees a short file and says so
                self.ws.write_message(fs.data(piece))
                sent += len(piece)
            if sent == size:
                self.ws.write_message(fs.END)
        log.info("transfer %s: sent %s (%d bytes)", event.transfer[:8], path, sent)

    def _allowed_file(self, folder_index: int, name: str) -> Path:
        folders = self.settings.download_folders
        if not 0 <= folder_index < len(folders) or not name or name in (".", "..") \
                or "/" in name or "\\" in name or "\0" in name or name.startswith(PART_PREFIX):
            raise Refusal("not_found", "No such file in the PC's shared folders.")
        folder = folders[folder_index]
        path = folder / name
        try:
            st = os.lstat(path)
        except OSError:
            raise Refusal("not_found", "No such file in the PC's shared folders.") from None
        # A regular file, not a link: a link could point anywhere on the PC.
        if not stat.S_ISREG(st.st_mode) or os.path.realpath(path.parent) != os.path.realpath(folder):
            raise Refusal("not_found", "No such file in the PC's shared folders.")
        return path

    # -- list --

    def _list(self) -> None:
        folders = self.settings.download_folders
        entries = []
        for index, folder in enumerate(folders):
            try:
                with os.scandir(folder) as it:
                    for item in it:
                        if len(entries) >= fs.MAX_FILES:
                            break
                        if item.name.startswith(PART_PREFIX) or not item.is_file(follow_symlinks=False):
                            continue
                        try:
                            st = item.stat(follow_symlinks=False)
                        except OSError:
                            continue
                        shown = item.name[:fs.MAX_TEXT]
                        if shown == item.name:
                            entries.append(fs.Entry(index, shown, st.st_size, st.st_mtime))
            except OSError as exc:
                log.info("cannot list %s: %s", folder, exc)
        entries.sort(key=lambda e: (e.folder, e.name.lower()))
        self.ws.write_message(fs.encode(fs.Listing(tuple(str(f)[:fs.MAX_TEXT] for f in folders), tuple(entries))))


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def _sweep(folder: Path) -> None:
    """Remove resumable part files left alone for ``RESUMABLE_FOR`` (``_receiving_lock`` held)."""
    old = time.time() - RESUMABLE_FOR
    try:
        with os.scandir(folder) as it:
            for item in it:
                if item.name.startswith(f"{PART_PREFIX}r-") and item.name[len(PART_PREFIX) + 2:] not in _receiving:
                    try:
                        if item.stat(follow_symlinks=False).st_mtime < old:
                            _remove(Path(item.path))
                    except OSError:
                        pass
    except OSError as exc:
        log.info("cannot sweep %s: %s", folder, exc)


def _place(part: Path, folder: Path, name: str) -> Path:
    """Give the finished part file its name, never over an existing file (``name (2).ext``)."""
    for n in range(1, 1000):
        candidate = folder / (name if n == 1 else numbered(name, n))
        try:
            os.link(part, candidate)  # fails if the name exists: no race with another writer
        except FileExistsError:
            continue
        except OSError:  # no hard links here (FAT, some shares): the check-then-rename fallback
            if candidate.exists():
                continue
            os.replace(part, candidate)
            return candidate
        part.unlink()
        return candidate
    raise Refusal("io", "Too many files of that name in the upload folder.")
