"""Bulk import from CSV with ``python -m gateway user import FILE``: dry run, rejected rows
line by line, then people with their groups, PCs and a one-time link each."""

from __future__ import annotations

import re
from urllib.parse import urlsplit



CSV = """name,display name,email,groups,PCs
anna,Anna Alba,anna@example.org,sales;staff,desk-1
boss,Already There,boss@example.org,,
bad@,x,not-an-email,,
carl,Carl Cole,carl@example.org,staff,no-such-pc
dora,Dora Dune,,staff,
dora,Dora Again,,,
"""



def test_import_dry_run_then_for_real(cli, tmp_path, redis_server, prefix):
    cli("user", "add", "boss", "--admin")
    cli("machine", "add", "desk-1")
    path = tmp_path / "people.csv"
    path.write_text(CSV)
    preview = cli("user", "import", str(path), "--dry-run")
    assert "would add anna groups=sales;staff pcs=desk-1" in preview
    assert "would add dora groups=staff" in preview
    assert "would create group sales" in preview and "would create group staff" in preview
    assert "line 3: rejected: user boss exists already" in preview
    assert "line 4: rejected: 'not-an-email' is not an email address" in preview
    assert "line 5: rejected: no PC named no-such-pc" in preview
    assert "line 7: rejected: dora appears twice in the file" in preview
    assert "2 to add, 4 rejected (dry run: nothing changed)" in preview
    assert "anna" not in cli("user", "list")

    out = cli("user", "import", str(path))
    links = dict(re.findall(r"^(\w+)\t(http://\S+/invite/\S+)$", out, re.M))
    assert set(links) == {"anna", "dora"} and "2 added, 4 rejected" in out
    listing = cli("user", "list")
    assert "\tanna\t" in listing and "\tdora\t" in listing and "carl" not in listing

    from gateway import create_app
    from gateway.ops import get_user
    from gateway.models import granted_machines

    app = create_app({"instance_path": str(tmp_path / "cli"), "redis_url": redis_server, "redis_prefix": prefix})
    with app.app_context():
        anna = get_user("anna")
        assert [g.name for g in anna.groups] == ["sales", "staff"] and anna.password_hash == ""
        assert [m.name for m in granted_machines(anna)] == ["desk-1"] and anna.email == "anna@example.org"
    page = app.test_client().get(urlsplit(links["anna"]).path)
    assert "Your user name is <strong>anna</strong>" in page.get_data(as_text=True)


def test_not_a_people_csv(cli, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("who,what\nanna,1\n")
    assert "The first line must be the columns" in cli("user", "import", str(path), ok=False)



def test_import_from_the_admin_page(make_app):
    """Upload, preview (nothing changes), confirm; links for all, rejected rows by line."""
    import io

    from gateway import ops
    from tests.support.web import AuthActions

    app = make_app()
    with app.app_context():
        ops.add_user("boss", "bosspass1", admin=True)
        ops.add_machine("desk-1")
    client = app.test_client()
    auth = AuthActions(client)
    assert auth.login("boss", "bosspass1").status_code == 302
    assert "Import people from CSV" in client.get("/admin/users").get_data(as_text=True)
    preview = client.post("/admin/signin/import", content_type="multipart/form-data",
                          data={"csrf_token": auth.csrf, "file": (io.BytesIO(CSV.encode()), "people.csv")})
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "2 to add" in html and "4 rejected" in html
    assert "Line 3: user boss exists already" in html and "Line 5: no PC named no-such-pc" in html
    with app.app_context():
        from gateway.models import find_user
        assert find_user("anna") is None                       # a preview changes nothing
    done = client.post("/admin/signin/import", data={"csrf_token": auth.csrf, "confirm": "1", "csv": CSV})
    html = done.get_data(as_text=True)
    assert "2 people imported" in html
    links = re.findall(r'value="(http://localhost/invite/[^"]+)"', html)
    assert len(links) == 2
    assert "Your user name is" in app.test_client().get(urlsplit(links[0]).path).get_data(as_text=True)
    bad = client.post("/admin/signin/import", data={"csrf_token": auth.csrf, "csv": "nope"})
    assert bad.status_code == 302
    assert "The first line must be the columns" in client.get("/admin/signin/import").get_data(as_text=True)


def test_cli_invite_prints_a_one_time_link(cli):
    first = cli("user", "invite", "zoe", "--email", "zoe@example.org").strip()
    assert re.fullmatch(r"http://\S+/invite/[A-Za-z0-9_-]{40,}", first)
    second = cli("user", "invite", "zoe").strip()          # an existing person: a new link replaces the old
    assert second != first and "/invite/" in second
    cli("user", "signin", "zoe", "ldap")
    assert "no password to set here" in cli("user", "invite", "zoe", ok=False)
