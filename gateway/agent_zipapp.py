"""Build ``ponte-agent.pyz``: the agent and its pure-Python dependencies in one file.

The archive is made with the standard ``zipapp`` module from a staging folder:
``agents/`` from this checkout, and the packages of ``requirements-agent.txt``
(``VENDORED``) copied from the gateway's own environment (its site-packages),
``.py`` files only. tomli's wheels for CPython are mypyc-compiled, but ship
their ``.py`` sources beside the extension modules, so the copy is pure and
runs on any Python >= 3.10 on Windows, macOS and Linux. The licence files of
the vendored distributions go into ``vendor-licenses/`` (websockify is LGPL).

The same inputs give the same bytes (fixed file times and modes, sorted
entries), so the checksum the enrol page shows stays the same across gateway
restarts and nodes that run the same code. The build is cached beside a
digest of its inputs and redone only when they change.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
import time
import zipapp
from dataclasses import dataclass
from pathlib import Path

from .errors import ArchiveError

ROOT = Path(__file__).resolve().parent.parent
AGENT_PACKAGE = ROOT / "agents"
ARCHIVE_NAME = "ponte-agent.pyz"
#: The top-level packages of requirements-agent.txt, vendored into the archive.
#: tomli is imported on Python 3.10 only (3.11 has tomllib), but a downloaded file
#: cannot know which Python will run it, so it is always in.
VENDORED = ("websockify", "tomli")
#: What runs the archive when it is executed directly (``./ponte-agent.pyz`` on
#: Linux/macOS); on Windows the ``py`` launcher reads the same line.
INTERPRETER = "/usr/bin/env python3"
#: Every staged file gets this modification time, so that the archive is reproducible.
#: Local midnight of 2000-01-01: zip stores local time (``time.localtime``), and any
#: fixed local time is the same bytes whatever the gateway's time zone.
FIXED_TIME = time.mktime((2000, 1, 1, 0, 0, 0, 0, 0, -1))

MAIN_PY = '''\
"""ponte-agent.pyz: the Ponte agent in one file, built by a Ponte gateway."""
import sys

if sys.version_info < (3, 10):
    sys.exit("ponte-agent needs Python 3.10 or later; this is Python " + sys.version.split()[0])
else:
    from agents.__main__ import main  # only after the check: the agent's code is 3.10 syntax

    sys.exit(main())
'''


@dataclass(frozen=True)
class AgentArchive:
    """A built ``ponte-agent.pyz``."""

    path: Path
    sha256: str
    size: int


def staged_files() -> dict[str, Path]:
    """Archive name → source file, for every file that goes into the archive but ``__main__.py``."""
    files = _python_files(AGENT_PACKAGE, "agents")
    for name in VENDORED:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise ArchiveError(f"{name} is not installed where the gateway runs; "
                               f"pip install -r requirements.txt (the agent's file vendors it)")
        package = Path(next(iter(spec.submodule_search_locations)))
        found = _python_files(package, name)
        if f"{name}/__init__.py" not in found:
            raise ArchiveError(f"{name} at {package} has no Python sources (compiled only?)")
        files.update(found)
        files.update(_licences(name))
    return files


def _python_files(package: Path, arcbase: str) -> dict[str, Path]:
    out = {}
    for path in sorted(package.rglob("*")):
        rel = path.relative_to(package)
        if "__pycache__" in rel.parts or not path.is_file():
            continue
        if path.suffix == ".py" or path.name == "py.typed":
            out[f"{arcbase}/{rel.as_posix()}"] = path
    return out


def _licences(name: str) -> dict[str, Path]:
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return {}
    out = {}
    for f in dist.files or ():
        if any(word in f.name.upper() for word in ("LICENSE", "LICENCE", "COPYING")):
            source = Path(dist.locate_file(f))
            if source.is_file():
                out[f"vendor-licenses/{name}/{f.name}"] = source
    return out


def inputs_digest(files: dict[str, Path]) -> str:
    """SHA-256 over names and contents of the inputs (and the entry point and this builder's settings)."""
    h = hashlib.sha256()
    for part in (MAIN_PY, INTERPRETER, repr(FIXED_TIME)):
        h.update(part.encode() + b"\0")
    for name in sorted(files):
        h.update(name.encode() + b"\0" + files[name].read_bytes() + b"\0")
    return h.hexdigest()


def build(folder: Path) -> AgentArchive:
    """``folder/ponte-agent.pyz``, built now unless the one there has the same inputs.

    Written to a temporary name and renamed, so a download never sees half an archive.
    """
    files = staged_files()
    digest = inputs_digest(files)
    target = folder / ARCHIVE_NAME
    stamp = folder / (ARCHIVE_NAME + ".inputs")
    folder.mkdir(parents=True, exist_ok=True)
    if target.is_file() and stamp.is_file() and stamp.read_text().strip() == digest:
        return describe(target)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".build-") as tmp:
        stage = Path(tmp) / "stage"
        _stage(stage, files)
        built = Path(tmp) / ARCHIVE_NAME
        zipapp.create_archive(stage, built, interpreter=INTERPRETER, compressed=True)
        built.chmod(0o600)  # zipapp makes it executable; it is served, never run, here
        os.replace(built, target)
    stamp.write_text(digest + "\n")
    return describe(target)


def _stage(stage: Path, files: dict[str, Path]) -> None:
    for name, source in files.items():
        dest = stage / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
    (stage / "__main__.py").write_text(MAIN_PY, encoding="utf-8")
    # zipapp stores each entry's mode and time (directories too): make both fixed.
    for path in sorted(stage.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        path.chmod(0o755 if path.is_dir() else 0o644)
        os.utime(path, (FIXED_TIME, FIXED_TIME))


def describe(path: Path) -> AgentArchive:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            h.update(block)
    return AgentArchive(path=path, sha256=h.hexdigest(), size=path.stat().st_size)
