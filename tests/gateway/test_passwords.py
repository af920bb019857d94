"""Password policy (issue 9 item 10): no all-whitespace passwords, none of the 10,000 most common.

The same rule in every place a password is set: CLI, admin pages, JSON API.
"""

from __future__ import annotations

import pytest

from gateway import ops

COMMON = ["password", "baseball", "football", "12345678", "Password1", "trustno1", "PASSWORD"]
BLANK = [" " * 12, "\t\t\t\t\t\t\t\t", "\u3000" * 8]


@pytest.mark.parametrize("password", COMMON + BLANK)
def test_refused_everywhere(app, client, admin, password):
    with app.app_context():
        with pytest.raises(ops.AdminError) as err:
            ops.add_user("newbie", password)
    said = str(err.value)
    assert ("common" in said) if password.strip() else ("spaces" in said)
    resp = client.post("/api/v1/users", json={"name": "newbie", "password": password}, headers=admin.headers())
    assert resp.status_code == 400 and resp.get_json()["error"]["message"] == said
    resp = client.post("/admin/users", data={"csrf_token": admin.csrf, "name": "newbie", "password": password},
                       follow_redirects=True)
    assert said in resp.get_data(as_text=True)
    resp = client.patch("/api/v1/users/emp", json={"password": password}, headers=admin.headers())
    assert resp.status_code == 400


def test_the_list_is_the_shipped_one_and_has_ten_thousand():
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    from gateway.passwords import COMMON_PASSWORDS

    assert len(COMMON_PASSWORDS) == 10_000
    assert COMMON_PASSWORDS == frozenset(FREQUENCY_LISTS["passwords"][:10_000])


@pytest.mark.parametrize("password", ["emppass12", "correct horse battery staple", "Ünïcödé-pässwörd"])
def test_ordinary_passwords_pass(app, password):
    with app.app_context():
        assert ops.add_user("fine", password).name == "fine"


def test_cli_refuses_a_common_password(tmp_path, redis_server):
    import os
    import subprocess
    import sys

    from tests.support import ROOT

    env = {k: v for k, v in os.environ.items() if not k.startswith("PONTE_")}
    env.update({"PONTE_INSTANCE_PATH": str(tmp_path), "REDIS_URL": redis_server, "PYTHONPATH": str(ROOT)})
    res = subprocess.run([sys.executable, "-m", "gateway", "user", "add", "newbie"], input="football\n",
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode != 0 and "common" in res.stderr
