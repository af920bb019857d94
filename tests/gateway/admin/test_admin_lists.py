"""The long admin lists with 500 people and 300 PCs (issue 13): search, sort and pages done by
the server, read from the address (bookmarkable), with the counts shown."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from gateway.extensions import db
from gateway.models import AuditEvent, Machine, User, utcnow

IT = {"Accept-Language": "it"}


@pytest.fixture
def crowd(app, users):
    """500 more people (every 7th an admin, every 10th disabled) and 300 PCs, made in bulk."""
    start = utcnow() - timedelta(days=600)
    with app.app_context():
        db.session.add_all(User(name=f"person-{n:03d}", password_hash="!", display_name=f"Person {n}",
                                email=f"p{n}@example.org", is_admin=n % 7 == 0, disabled=n % 10 == 0,
                                created_at=start + timedelta(days=n)) for n in range(500))
        db.session.add_all(Machine(name=f"pc-{n:03d}", agent_hostname=f"host{n}.office.lan",
                                   agent_os="Windows 11" if n % 2 else "Ubuntu 24.04",
                                   created_at=start + timedelta(days=n)) for n in range(300))
        db.session.add_all(AuditEvent(action="user_create", actor="boss", target=f"person-{n:03d}",
                                      at=start + timedelta(hours=n)) for n in range(250))
        db.session.commit()


def _names(html: str, prefix: str) -> list[str]:
    return re.findall(rf">({prefix}-\d+)</a>", html)


def test_users_come_in_pages_with_the_count(client, crowd, login):
    login("boss")
    html = client.get("/admin/users").get_data(as_text=True)
    assert _names(html, "person")[:3] == ["person-000", "person-001", "person-002"]
    assert len(re.findall(r'<a href="/admin/users/\d+">', html)) == 50
    assert "1–50 of 503" in html and "Page 1 of 11" in html and 'href="/admin/users?page=2"' in html
    last = client.get("/admin/users?page=11").get_data(as_text=True)
    assert "501–503 of 503" in last and 'rel="next"' not in last and 'href="/admin/users?page=10"' in last
    assert "501–503 of 503" in client.get("/admin/users?page=99").get_data(as_text=True)   # past the end: the last
    assert "Pagina 1 di 11" in client.get("/admin/users", headers=IT).get_data(as_text=True)
    assert "1–50 di 503" in client.get("/admin/users", headers=IT).get_data(as_text=True)


def test_users_search_every_word_in_name_display_name_and_email(client, crowd, login):
    login("boss")
    html = client.get("/admin/users?q=person-04").get_data(as_text=True)
    assert _names(html, "person") == [f"person-04{n}" for n in range(10)] and "1–10 of 10" in html
    assert _names(client.get("/admin/users?q=p123@").get_data(as_text=True), "person") == ["person-123"]
    assert _names(client.get("/admin/users?q=PERSON+12+9").get_data(as_text=True), "person") == ["person-129"]
    assert "Nothing matches." in client.get("/admin/users?q=100%25").get_data(as_text=True)   # % is a letter
    html = client.get("/admin/users?q=person-4&page=2").get_data(as_text=True)
    assert "51–100 of 100" in html and 'href="/admin/users?q=person-4&amp;page=1"' not in html
    assert 'href="/admin/users?q=person-4"' in html   # page 1 of the same search, default left out


def test_users_sort_by_column_both_ways_and_keep_the_search(client, crowd, login):
    login("boss")
    html = client.get("/admin/users?sort=created&dir=desc").get_data(as_text=True)
    assert _names(html, "person")[:2] == ["person-499", "person-498"]
    assert 'aria-sort="descending"' in html and 'href="/admin/users?sort=created"' in html   # flips to ascending
    admins = client.get("/admin/users?sort=role&dir=desc&q=person").get_data(as_text=True)
    assert _names(admins, "person")[:2] == ["person-000", "person-007"]   # admins first, then by name
    assert 'name="sort" value="role"' in admins   # a new search keeps the sort
    assert _names(client.get("/admin/users?sort=nonsense").get_data(as_text=True), "person")[0] == "person-000"


def test_pcs_search_sort_and_pages(client, crowd, login):
    login("boss")
    html = client.get("/admin/machines").get_data(as_text=True)
    assert "1–50 of 302" in html and _names(html, "pc")[:2] == ["pc-000", "pc-001"]
    assert len(re.findall(r'<tr data-machine=', html)) == 50
    html = client.get("/admin/machines?q=host12.").get_data(as_text=True)
    assert _names(html, "pc") == ["pc-012"]
    html = client.get("/admin/machines?q=ubuntu&sort=name&dir=desc&page=3").get_data(as_text=True)
    assert "101–150 of 150" in html and _names(html, "pc")[0] == "pc-098"


def test_history_and_audit_show_counts_and_either_order(client, crowd, world, login):
    login("boss")
    audit = client.get("/admin/audit?actor=boss&action=user_create").get_data(as_text=True)
    assert "1–100 of 250" in audit and "person-249" in audit and "person-000" not in audit
    oldest = client.get("/admin/audit?actor=boss&action=user_create&order=oldest&offset=200").get_data(as_text=True)
    assert "201–250 of 250" in oldest and "person-200" in oldest and "person-249" in oldest
    assert 'rel="prev"' in oldest and "order=oldest" in oldest.split('rel="prev"')[0].rsplit("href=", 1)[1]
    history = client.get("/admin/history?order=oldest").get_data(as_text=True)
    assert "1–4 of 4" in history and 'value="oldest" selected' in history
