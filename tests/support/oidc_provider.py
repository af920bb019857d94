"""A real OpenID provider: node running ``tests/support/oidc/provider.mjs`` (npm ``oidc-provider``).

Its npm packages install into ``tests/support/oidc/node_modules`` (``npm ci`` there);
it listens on a free loopback port and is stopped by PID.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import free_port, stop_process, wait_for

HERE = Path(__file__).resolve().parent / "oidc"
CLIENT_ID, CLIENT_SECRET = "ponte-test", "ponte-test-secret-0123456789"


def installed() -> bool:
    return shutil.which("node") is not None and (HERE / "node_modules" / "oidc-provider").is_dir()


@dataclass
class OIDCProvider:
    port: int
    proc: subprocess.Popen
    log: Path

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings(self, **changes) -> dict:
        values = {"oidc_issuer": self.issuer, "oidc_client_id": CLIENT_ID, "oidc_client_secret": CLIENT_SECRET,
                  "oidc_label": "Example Corp", "oidc_groups_claim": "groups",
                  "oidc_group_map": ("sales => sales-team", "staff => everyone")}
        values.update(changes)
        return values

    @classmethod
    def start(cls, workdir: Path, redirect_uri: str) -> OIDCProvider:
        workdir.mkdir(parents=True, exist_ok=True)
        port, log = free_port(), workdir / "oidc-provider.log"
        env = {"PATH": "/usr/bin:/bin", "PORT": str(port), "CLIENT_ID": CLIENT_ID, "CLIENT_SECRET": CLIENT_SECRET,
               "REDIRECT_URI": redirect_uri, "NODE_ENV": "test"}
        proc = subprocess.Popen(["node", str(HERE / "provider.mjs")], cwd=HERE, env=env,
                                stdout=open(log, "wb"), stderr=subprocess.STDOUT)
        wait_for(lambda: b"listening" in log.read_bytes() or proc.poll() is not None, timeout=20,
                 what="oidc-provider listening")
        if proc.poll() is not None:
            raise RuntimeError(f"oidc-provider exited: {log.read_text(errors='replace')}")
        return cls(port, proc, log)

    def stop(self) -> None:
        stop_process(self.proc)


def start_company(workdir: Path, redis_url: str, **env: str):
    """A provider, and a gateway process (``python -m gateway serve``) that trusts it.

    Returns ``(provider, gateway)``; the caller stops both. ``env``: more ``PONTE_*`` settings.
    """
    from . import Gateway

    port = free_port()
    provider = OIDCProvider.start(workdir / "idp", f"http://127.0.0.1:{port}/login/oidc/callback")
    settings = {f"PONTE_{k.upper()}": v if isinstance(v, str) else ",".join(v)
                for k, v in provider.settings().items()}
    gateway = Gateway(workdir / "gw", port, redis_url,
                      extra_env={**settings, "PONTE_REDIS_PREFIX": f"oidc{port}:", **env})
    try:
        gateway.start()
    except Exception:
        provider.stop()
        raise
    return provider, gateway
