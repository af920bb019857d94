"""Users, machines and machine credentials for a bench gateway, with its own code.

Run with the gateway's environment (``PONTE_INSTANCE_PATH``, ``REDIS_URL``…),
before or while it serves::

    python -m bench.provision --users 8 --password P --machines 2 \
        --credential-dir DIR --gateway-url URL --idle 10000 --idle-file F

Real machines go through ``ops.add_machine`` and ``ops.enrol_agent``
(the enrolment path) and get a credential file the agent reads. Idle machines
for the load generator are many: they are inserted as ``Machine`` rows with a
credential hash from ``security.hash_token`` in one transaction (the same
hash ``enrol_agent`` stores), and their credentials written one per line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=0)
    parser.add_argument("--password", default="bench-password-1")
    parser.add_argument("--machines", type=int, default=0)
    parser.add_argument("--credential-dir", type=Path)
    parser.add_argument("--gateway-url", default="")
    parser.add_argument("--idle", type=int, default=0)
    parser.add_argument("--idle-file", type=Path)
    args = parser.parse_args(argv)

    from agents.config import save_credential
    from gateway import create_app
    from gateway import ops
    from gateway.extensions import db
    from gateway.models import Machine, utcnow
    from gateway.security import hash_token, new_token

    started = time.monotonic()
    app = create_app()
    out = {"users": [], "machines": []}
    with app.app_context():
        users = [ops.add_user(f"bench{i}", args.password, actor="bench") for i in range(args.users)]
        out["users"] = [u.name for u in users]
        for i in range(args.machines):
            name = f"bench-pc{i}"
            machine, code = ops.add_machine(name, actor="bench")
            machine, credential = ops.enrol_agent(code, "bench", "127.0.0.1")
            path = args.credential_dir / f"{name}.credential"
            save_credential(path, args.gateway_url, credential)
            for user in users:
                ops.grant(user, machine, actor="bench")
            out["machines"].append({"name": name, "id": machine.id, "credential_file": str(path)})
        if args.idle:
            now = utcnow()
            secrets = [new_token(32) for _ in range(args.idle)]
            rows = [Machine(name=f"idle-{i}", credential_hash=hash_token(s), enrolled_at=now)
                    for i, s in enumerate(secrets)]
            db.session.add_all(rows)
            db.session.commit()
            with open(args.idle_file, "w") as fh:
                for row, secret in zip(rows, secrets):
                    fh.write(f"{row.id}.{secret}\n")
            out["idle"] = args.idle
        db.session.remove()
    out["seconds"] = round(time.monotonic() - started, 2)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
