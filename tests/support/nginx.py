"""A real nginx (Debian's package) in front of gateway nodes, as an operator runs it.

The test's own process: ``nginx -p <prefix> -c <conf> -e <log>`` with
``daemon off``, its pid file, logs and temp folders in the prefix, on a
free loopback port. The upstream is round robin over the nodes, with the
WebSocket settings of ``config/nginx-ponte.conf`` (Upgrade/Connection
headers, long timeouts, no buffering). ``Host`` is passed with its port
(``$http_host``): the test's browser-like clients send an Origin with the
port, and a gateway compares the two.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import free_port, stop_process, wait_for

CONF = """\
daemon off;
master_process on;
worker_processes 1;
{user}
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    upstream ponte {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://ponte;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
        location /ws/ {{
            proxy_pass http://ponte;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 1d;
            proxy_send_timeout 1d;
            proxy_buffering off;
        }}
    }}
}}
"""


def nginx_binary() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


@dataclass
class Nginx:
    prefix: Path
    port: int
    proc: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, prefix: Path, upstreams: list[int], port: int | None = None,
              fail_timeout: float = 2.0) -> Nginx:
        """Round robin over ``upstreams`` (loopback ports). A node that refuses a
        connection is skipped for ``fail_timeout`` seconds (nginx's ``max_fails=1``)."""
        import os

        port = port or free_port()
        prefix.mkdir(parents=True, exist_ok=True)
        (prefix / "tmp").mkdir(exist_ok=True)
        servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout={fail_timeout:g}s;"
                            for p in upstreams)
        # As root nginx would run its worker as nobody, who cannot enter pytest's 0700 folders.
        user = "user root;" if os.geteuid() == 0 else ""
        conf = prefix / "nginx.conf"
        conf.write_text(CONF.format(prefix=prefix, port=port, servers=servers, user=user))
        log = open(prefix / "stderr.log", "ab")
        proc = subprocess.Popen([nginx_binary(), "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
                                stdout=log, stderr=log)
        server = cls(prefix, port, proc)
        # Readiness from nginx's own pid file and error log, not a probe connection.
        wait_for(server._ready, timeout=10, what="nginx listening")
        return server

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"nginx exited: {(self.prefix / 'error.log').read_text(errors='replace')[-2000:]}")
        log = self.prefix / "error.log"
        return (self.prefix / "nginx.pid").exists() and log.exists() and "start worker process" in log.read_text()

    def stop(self) -> None:
        stop_process(self.proc)
