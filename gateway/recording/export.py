"""A recording to a video file: ``render`` draws the frames, ffmpeg (Debian's) encodes them.

``python -m gateway recording export <session> out.webm|out.mp4`` (``commands``).
The frames go to ffmpeg's stdin as raw RGB at a fixed rate (``fps``); a screen
that does not change costs the encoder little, and the video's clock is the
recording's (second 0 is when recording began). WebM is VP9 (libvpx, its
realtime settings), MP4 is H.264 (libx264); both yuv420p, so odd sizes are
padded by a pixel. Runs in the CLI's process, not in the gateway's loop.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ..errors import ExportError
from . import format, render

FFMPEG = "/usr/bin/ffmpeg"
CODECS = {
    ".webm": ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "0", "-crf", "32", "-row-mt", "1"],
    ".mp4": ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-movflags", "+faststart"],
}




def ffmpeg() -> str:
    found = FFMPEG if Path(FFMPEG).exists() else shutil.which("ffmpeg")
    if not found:
        raise ExportError("ffmpeg is not installed (Debian: apt-get install ffmpeg; scripts/system-deps.sh)")
    return found


def export(reader, out: Path, *, fps: float = 5.0) -> dict:
    """Render the recording ``reader`` reads (``FileReader``) into ``out``; what was made.

    Raises ``ExportError``, ``render.RenderError`` (an encoding not decoded here) or
    ``format.FormatError``; a partial ``out`` is removed."""
    codec = CODECS.get(out.suffix.lower())
    if codec is None:
        raise ExportError(f"the video format {out.suffix or '(none)'} is not offered: .webm or .mp4")
    parsed = format.scan(reader.read_at)
    until = format.duration_ms(parsed)
    proc = None
    count = 0
    size = None
    try:
        for _ms, fb in render.frames(format.records(reader.read_at), fps, until_ms=until):
            if proc is None:
                size = (fb.shape[1], fb.shape[0])
                proc = subprocess.Popen(
                    [ffmpeg(), "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                     "-s", f"{size[0]}x{size[1]}", "-r", str(fps), "-i", "-",
                     "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-pix_fmt", "yuv420p", *codec, str(out)],
                    stdin=subprocess.PIPE, stderr=subprocess.PIPE)
            if (fb.shape[1], fb.shape[0]) != size:  # the desktop was resized: keep the first size
                fb = render._resized(fb, *size)
            proc.stdin.write(fb.tobytes())
            count += 1
        if proc is None:
            raise ExportError("the recording has no screen to export")
        proc.stdin.close()
        err = proc.stderr.read().decode("utf-8", "replace")
        if proc.wait() != 0:
            raise ExportError(f"ffmpeg failed: {err.strip()[-500:]}")
    except BaseException:
        if proc is not None:
            proc.kill()
            proc.wait()
        out.unlink(missing_ok=True)
        raise
    return {"frames": count, "fps": fps, "width": size[0], "height": size[1], "duration_ms": until}
