"""The admin's Settings page (issue 13): company name and logo, signing in, the second factor,
API tokens and share links in one place, each with where to change it; the section stays
current on the pages it gathers."""

from __future__ import annotations

import re

from gateway import ops
from gateway.factors import policy as factor_policy

IT = {"Accept-Language": "it"}


def _current(html: str) -> list[str]:
    """The admin sections marked current in the admin nav."""
    nav = html[html.index('class="subnav"'):]
    return re.findall(r'<a href="([^"]+)" aria-current="page">', nav[:nav.index("</nav>")])


def test_settings_gathers_what_the_company_sets(app, client, world, login):
    login("boss")
    html = client.get("/admin/settings").get_data(as_text=True)
    assert "<h1>Settings</h1>" in html and _current(html) == ["/admin/settings"]
    for link in ("/admin/branding", "/admin/signin/invite", "/admin/signin/import", "/admin/factors", "/admin/tokens"):
        assert f'href="{link}"' in html, link
    assert "1 token works now." in html   # boss's, from the world
    assert "No one must have a second factor." in html
    assert "Only admins may share PCs with guests" in html
    # The nav has one "Settings" entry, not tokens, second factor and company each.
    nav = html[html.index('class="subnav"'):html.index("</nav>")]
    assert ">API tokens<" not in nav and ">Second factor<" not in nav and ">Company<" not in nav


def test_settings_follows_what_changed(app, client, world, login):
    with app.app_context():
        # The members of sales (not boss, who then logs in without one) must have a second factor.
        factor_policy.save("groups", [world.groups["sales"]], False, actor="boss")
        _, _token = ops.create_token(ops.get_user("emp"), "backup", actor="boss")
    admin = login("boss")
    resp = client.post("/admin/settings/share-links", data={"csrf_token": admin.csrf, "share_links": "on"})
    assert resp.headers["Location"] == "/admin/settings"
    html = client.get("/admin/settings", headers=IT).get_data(as_text=True)
    assert "<h1>Impostazioni</h1>" in html
    assert "2 token sono attivi." in html
    assert "Il secondo fattore è obbligatorio per i membri di alcuni gruppi." in html
    assert "Employees may share" not in html and "Let only admins share" not in html   # in Italian


def test_no_token_is_said_in_words(client, users, login):
    login("boss")
    assert "Nessun token è attivo." in client.get("/admin/settings", headers=IT).get_data(as_text=True)


def test_the_pages_it_gathers_are_under_settings(client, world, login):
    login("boss")
    for path in ("/admin/tokens", "/admin/factors", "/admin/branding"):
        html = client.get(path).get_data(as_text=True)
        assert _current(html) == ["/admin/settings"], path
        assert '<p class="crumbs"><a href="/admin/settings">Settings</a> ›</p>' in html, path
    machines = client.get("/admin/machines").get_data(as_text=True)
    assert 'href="/admin/settings#share-setting"' in machines
