"""Redis with Sentinel for the tests: a primary, a replica and three Sentinels, all our own.

Real ``redis-server`` processes on free loopback ports; the Sentinels are
``redis-sentinel`` (Debian's package) or ``redis-server --sentinel``, each
with its own config file (Sentinel rewrites it). Failure detection is
quick (``down-after-milliseconds`` 1000) so a failover takes seconds.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from . import free_port, redis_binary, stop_process, wait_for

SERVICE = "ponte"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000


def _redis(port: int):
    import redis

    return redis.Redis(port=port, socket_timeout=2, socket_connect_timeout=2)


def _answers(port: int) -> bool:
    import redis

    try:
        return _redis(port).ping()
    except redis.RedisError:
        return False


@dataclass
class SentinelSet:
    dir: Path
    servers: dict[int, subprocess.Popen] = field(default_factory=dict)   # port → redis-server
    sentinels: dict[int, subprocess.Popen] = field(default_factory=dict)  # port → sentinel

    @property
    def addresses(self) -> str:
        """``redis_sentinels`` as the gateway's environment takes it."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinels)

    @classmethod
    def start(cls, workdir: Path, replicas: int = 1, sentinels: int = 3) -> SentinelSet:
        workdir.mkdir(parents=True, exist_ok=True)
        ha = cls(workdir)
        primary = ha._server()
        for _ in range(replicas):
            ha._server("--replicaof", "127.0.0.1", str(primary))
        wait_for(lambda: ha._replicas_linked(primary, replicas), timeout=20, interval=0.1, what="replicas in sync")
        for _ in range(sentinels):
            ha._sentinel(primary)
        wait_for(lambda: ha._sentinels_ready(replicas, sentinels), timeout=30, interval=0.2,
                 what="sentinels see each other and the replica")
        return ha

    def _server(self, *extra: str) -> int:
        port = free_port()
        data = self.dir / f"redis-{port}"
        data.mkdir()
        log = open(data / "redis.log", "wb")
        self.servers[port] = subprocess.Popen(
            [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(data), *extra], stdout=log, stderr=log)
        wait_for(lambda: _answers(port), what=f"redis-server on {port}")
        return port

    def _sentinel(self, primary: int) -> None:
        port = free_port()
        conf = self.dir / f"sentinel-{port}.conf"
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {self.dir}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {primary} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {SERVICE} 1\n")
        binary = shutil.which("redis-sentinel")
        argv = [binary, str(conf)] if binary else [redis_binary(), str(conf), "--sentinel"]
        log = open(self.dir / f"sentinel-{port}.log", "wb")
        self.sentinels[port] = subprocess.Popen(argv, stdout=log, stderr=log)
        wait_for(lambda: _answers(port), what=f"sentinel on {port}")

    def _replicas_linked(self, primary: int, replicas: int) -> bool:
        info = _redis(primary).info("replication")
        return info.get("connected_slaves", 0) >= replicas and all(
            info.get(f"slave{i}", {}).get("state") == "online" for i in range(replicas))

    def _sentinels_ready(self, replicas: int, sentinels: int) -> bool:
        import redis

        try:
            for port in self.sentinels:
                state = _redis(port).sentinel_master(SERVICE)
                if int(state["num-other-sentinels"]) < sentinels - 1 or int(state["num-slaves"]) < replicas:
                    return False
            return True
        except redis.RedisError:
            return False

    def primary(self) -> int:
        """The port Sentinel names as the current primary."""
        ip, port = _redis(next(iter(self.sentinels))).sentinel_get_master_addr_by_name(SERVICE)
        return int(port)

    def kill(self, port: int) -> None:
        self.servers[port].kill()
        self.servers[port].wait(10)

    def stop(self) -> None:
        for proc in list(self.sentinels.values()) + list(self.servers.values()):
            stop_process(proc)
