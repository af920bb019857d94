"""What an hour of recording takes on disk: office work and video, watched in Chromium's noVNC.

    .venv/bin/python scripts/recording_size.py [--seconds 120] [--geometry 1280x800]

A whole Ponte on loopback (Redis, a gateway recording every session, a real
Xvnc, an enrolled agent) and Debian's Chromium opening the viewer as a person
does, so the stream is what noVNC negotiates with TigerVNC (Tight, JPEG). Two
sessions, one after the other, each ``--seconds`` long:

* office: an xterm running ``top`` (refreshing every second) and a digital
  ``xclock`` ticking every second: a desktop that changes a little all the time;
* video: ``ffplay`` playing ffmpeg's ``testsrc2`` pattern (moving, 25 fps,
  640×360) in a window: Tight/JPEG rectangles all the time, which deflate
  barely shrinks (the recorder stores such chunks as they are).

Prints each recording's bytes on disk, bytes of records and the same per hour.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import AgentProcess, Gateway, RedisServer, free_port, start_xvnc, stop_process, wait_for  # noqa: E402

WORKLOADS = {
    "office": [["xterm", "-geometry", "100x40+0+0", "-e", "top", "-d", "1"],
               ["xclock", "-digital", "-update", "1", "-geometry", "+900+20"]],
    "video": [["ffplay", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
               "-an", "-left", "100", "-top", "100"]],
}


def watch(gw_url: str, machine: str, seconds: float) -> str:
    """A person watches ``machine`` in Chromium for ``seconds``; their session's id."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(gw_url + "/login")
        page.fill("#name", "emp")
        page.fill("#password", "emppass12")
        page.click("button[type=submit]")
        page.wait_for_selector("h1")
        page.goto(f"{gw_url}/view/{machine}")
        deadline = time.monotonic() + 60
        session = None
        while session is None and time.monotonic() < deadline:
            session = page.evaluate("window.ponte && (window.ponte.events.find(e => e.type === 'connect') || {}).session")
            time.sleep(0.2)
        if session is None:
            raise RuntimeError(f"the viewer did not connect: {page.inner_text('#status')!r}")
        time.sleep(seconds)
        page.click("#disconnect")
        time.sleep(1.0)
        browser.close()
    return session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--geometry", default="1280x800")
    args = parser.parse_args()
    from gateway.recording import format as fmt
    from gateway.recording.storage import FileReader

    with tempfile.TemporaryDirectory(prefix="ponte-recsize-") as tmp:
        base = Path(tmp)
        folder = base / "recordings"
        redis = RedisServer.start(base / "redis")
        vnc = start_xvnc(base / "xvnc", geometry=args.geometry)
        gw = Gateway(base / "gateway", free_port(), redis.url,
                     extra_env={"PONTE_RECORDING": "true", "PONTE_RECORDINGS_PATH": str(folder),
                                "PONTE_LOGIN_LIMIT": "1000 per minute"}).start()
        agent = None
        try:
            gw.add_user("emp", "emppass12")
            code = gw.add_machine("pc")
            gw.cli("grant", "emp", "pc")
            agent = AgentProcess(base / "agent", gw.url, vnc)
            agent.enroll(code)
            agent.start()
            wait_for(lambda: gw.machine_state("pc") == "online", timeout=30, interval=0.3, what="agent online")
            env = {**os.environ, "DISPLAY": f":{vnc.display}"}
            print(f"{'':8}{'seconds':>9}{'on disk':>12}{'records':>12}{'MB/hour on disk':>17}")
            for name, commands in WORKLOADS.items():
                apps = [subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                        for c in commands]
                try:
                    time.sleep(2.0)  # the windows are up before the session starts
                    session = watch(gw.url, "pc", args.seconds)
                finally:
                    for app in apps:
                        stop_process(app)
                path = folder / f"{session}.prec"
                wait_for(lambda: path.is_file() and _ended(path, fmt, FileReader), timeout=30, what="recording closed")
                with FileReader(path) as reader:
                    parsed = fmt.scan(reader.read_at)
                    size = reader.size
                seconds = fmt.duration_ms(parsed) / 1000
                raw = sum(e.raw_len for e in parsed.index)
                print(f"{name:8}{seconds:9.0f}{size / 1e6:10.2f}MB{raw / 1e6:10.2f}MB{size / 1e6 * 3600 / seconds:17.0f}"
                      + (f"  (stopped: {parsed.ending['stopped']})" if parsed.ending and parsed.ending["stopped"] else ""))
        finally:
            if agent is not None:
                agent.stop()
            gw.stop()
            vnc.stop()
            redis.stop()
    print(f"scripts/recording_size.py --seconds {args.seconds:g} --geometry {args.geometry}: "
          f"Xvnc, agent, gateway and Chromium on this machine (load {os.getloadavg()[0]:.1f}).")


def _ended(path, fmt, FileReader) -> bool:
    with FileReader(path) as reader:
        return fmt.scan(reader.read_at).ending is not None


if __name__ == "__main__":
    main()
