"""The agent's side of file transfers, on a real disk: where a file may land and what may leave."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agents.config import AgentSettings
from agents.files import PART_PREFIX, FileTransfer, Refusal, _place
from agents.protocol import control


def _transfer(tmp_path, op="download", **kwargs) -> FileTransfer:
    settings = AgentSettings(files_folder=str(tmp_path / "in"), files_download_folders=str(tmp_path / "shared"))
    return FileTransfer(settings, "http://gw", control.OpenFiles(transfer="a" * 32, token="t", op=op, **kwargs))


def test_a_finished_file_never_replaces_another(tmp_path):
    for n, data in enumerate((b"one", b"two", b"three")):
        part = tmp_path / f"{PART_PREFIX}{n}"
        part.write_bytes(data)
        placed = _place(part, tmp_path, "report.pdf")
        assert placed.read_bytes() == data and not part.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report (2).pdf", "report (3).pdf", "report.pdf"]
    assert (tmp_path / "report.pdf").read_bytes() == b"one"


def test_only_regular_files_directly_in_a_shared_folder_may_leave(tmp_path):
    shared = tmp_path / "shared"
    (shared / "sub").mkdir(parents=True)
    (shared / "ok.txt").write_bytes(b"ok")
    (shared / "sub" / "deep.txt").write_bytes(b"deep")
    (tmp_path / "secret.txt").write_bytes(b"secret")
    os.symlink(tmp_path / "secret.txt", shared / "link.txt")
    (shared / f"{PART_PREFIX}x").write_bytes(b"half")
    t = _transfer(tmp_path)
    assert t._allowed_file(0, "ok.txt") == shared / "ok.txt"
    for folder, name in ((0, "link.txt"), (0, "sub"), (0, "sub/deep.txt"), (0, "..\\secret.txt"), (0, "../secret.txt"),
                         (0, ".."), (0, ""), (0, f"{PART_PREFIX}x"), (1, "ok.txt"), (0, "missing")):
        with pytest.raises(Refusal) as info:
            t._allowed_file(folder, name)
        assert info.value.code == "not_found", (folder, name)


def test_folders_default_to_downloads(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = AgentSettings()
    assert settings.upload_folder == tmp_path / "Downloads"
    assert settings.download_folders == (tmp_path / "Downloads",)
    assert AgentSettings(files_download_folders=" /a , /b ,").download_folders == (Path("/a"), Path("/b"))
