"""Italian and English (issue 13): the catalogs cover every marked string, the language is chosen
from the saved preference, the cookie or Accept-Language, and dates and numbers follow it."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest

from gateway import catalogs, i18n, ops
from gateway.config import load_settings
from gateway.errors import ConfigError
from gateway.extensions import db
from tests.support.web import csrf_from

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDERS = re.compile(r"%\(\w+\)[sd]|\{\w+\}")
#: The page scripts' marked strings: t('…') or t("…") with a plain literal.
SCRIPT_KEY = re.compile(r"""(?<![\w.$])(?<!function )t\(\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")""")


def _strings(message) -> list[str]:
    return list(message) if isinstance(message, (list, tuple)) else [message]


# -- the catalogs ---------------------------------------------------------------------------------

def test_every_marked_string_is_translated_in_italian():
    """``make messages`` then a translator: a string marked but not in (or empty in) the it catalog fails."""
    extracted = catalogs.extract()
    italian = catalogs.read("it")
    assert len([m for m in extracted if m.id]) > 150   # templates, Python, scripts and the agent's words all found
    problems = []
    for message in extracted:
        if not message.id:
            continue
        found = italian.get(message.id)
        if found is None:
            problems.append(f"not in the it catalog: {message.id!r} ({message.locations[0]})")
        elif found.fuzzy or not all(_strings(found.string)):
            problems.append(f"untranslated in the it catalog: {message.id!r}")
        elif sorted(PLACEHOLDERS.findall(_strings(message.id)[-1])) != sorted(PLACEHOLDERS.findall(_strings(found.string)[-1])):
            problems.append(f"placeholders differ: {message.id!r} → {found.string!r}")
    assert not problems, "\n".join(problems)


def test_the_english_catalog_lists_the_same_strings():
    extracted = {m.id for m in catalogs.extract() if m.id}
    english = {m.id for m in catalogs.read("en") if m.id}
    assert extracted <= english, sorted(map(str, extracted - english))[:20]


def test_every_script_string_reaches_the_scripts_catalog():
    """Each t('…') key in novnc_static/*.js is in /i18n/it.json, and no script builds a key."""
    served = i18n.script_catalog("it")
    keys, built = set(), []
    for path in sorted((ROOT / "novnc_static").glob("*.js")):
        text = path.read_text()
        for single, double in SCRIPT_KEY.findall(text):
            keys.add((single or double).replace("\\'", "'").replace('\\"', '"'))
        built += [f"{path.name}: {m}" for m in re.findall(r"(?<![\w.$])(?<!function )t\(\s*[^'\"\s)]", text)]
    assert len(keys) > 40
    assert not built, f"t() needs a literal key (pybabel cannot read others): {built}"
    missing = sorted(keys - set(served))
    assert not missing, f"not in the it scripts catalog: {missing}"


def test_the_agents_words_are_translated():
    from agents.protocol import vncstate

    italian = catalogs.read("it")
    for sentence in [*vncstate.EMPLOYEE.values(), vncstate.UNKNOWN]:
        assert italian.get(sentence) is not None and italian.get(sentence).string, sentence


# -- choosing the language ------------------------------------------------------------------------

def test_english_by_default(client, users):
    html = client.get("/login").get_data(as_text=True)
    assert '<html lang="en">' in html and "<h1>Log in</h1>" in html


@pytest.mark.parametrize("header, lang", [("it-IT,it;q=0.9,en;q=0.5", "it"), ("it", "it"),
                                          ("de-DE,de;q=0.9", "en"), ("en-GB,en;q=0.8,it;q=0.5", "en")])
def test_the_browsers_language(client, users, header, lang):
    html = client.get("/login", headers={"Accept-Language": header}).get_data(as_text=True)
    assert f'<html lang="{lang}">' in html
    assert ("<h1>Accedi</h1>" in html) == (lang == "it")


def test_the_login_page_switch_is_remembered_in_a_cookie(client, users):
    page = client.get("/login").get_data(as_text=True)
    assert 'id="language-switch"' in page
    resp = client.post("/language", data={"csrf_token": csrf_from(page), "locale": "it", "next": "/login"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/login")
    cookie = client.get_cookie(i18n.COOKIE)
    assert cookie is not None and cookie.value == "it" and cookie.http_only
    html = client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="it">' in html and "Nome utente" in html


def test_the_switch_refuses_unknown_languages_and_foreign_redirects(client, users):
    csrf = csrf_from(client.get("/login").get_data(as_text=True))
    assert client.post("/language", data={"csrf_token": csrf, "locale": "xx"}).status_code == 400
    resp = client.post("/language", data={"csrf_token": csrf, "locale": "it", "next": "https://evil.example/"})
    assert resp.status_code == 302 and "evil.example" not in resp.headers["Location"]


def test_a_saved_choice_wins_over_the_browser(app, client, users, login):
    actions = login("emp")
    assert client.post("/language", data={"csrf_token": actions.csrf, "locale": "it", "next": "/account"}).status_code == 302
    with app.app_context():
        assert ops.get_user("emp").locale == "it"
    # another browser: no cookie, an English browser
    other = app.test_client()
    page = other.get("/login").get_data(as_text=True)
    other.post("/login", data={"csrf_token": csrf_from(page), "name": "emp", "password": "emppass12"})
    html = other.get("/", headers={"Accept-Language": "en-US,en"}).get_data(as_text=True)
    assert '<html lang="it">' in html and "<h1>I tuoi PC</h1>" in html
    account = other.get("/account", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Il Suo account" in account and 'id="language-switch"' in account


def test_flash_and_error_pages_are_translated(client, users):
    page = client.get("/login").get_data(as_text=True)
    resp = client.post("/login", data={"csrf_token": csrf_from(page), "name": "emp", "password": "nope-nope"},
                       headers={"Accept-Language": "it"})
    assert resp.status_code == 401 and "Nome utente o password errati." in resp.get_data(as_text=True)
    missing = client.get("/no-such-page", headers={"Accept-Language": "it"}).get_data(as_text=True)
    assert "A questo indirizzo non c’è nessuna pagina" in missing
    english = client.get("/no-such-page").get_data(as_text=True)
    assert "There is no page at this address" in english


def test_api_messages_are_translated_and_codes_kept(app, client, users, login):
    login("emp")
    with app.app_context():
        machine = ops.get_machine("desk-2")   # not granted to emp
    resp = client.get(f"/view/{machine.id}", headers={"Accept-Language": "it"})
    assert resp.status_code == 403 and "Non è autorizzato ad aprire questo PC." in resp.get_data(as_text=True)
    tiles = client.get("/api/v1/me/machines", headers={"Accept-Language": "it"}).get_json()["machines"]
    assert tiles[0]["state"] == "not_enrolled"
    assert tiles[0]["message"] == "Non ancora configurato: l’agente Ponte non è stato registrato su questo PC"


def test_the_scripts_catalog(client):
    it = client.get("/i18n/it.json")
    assert it.status_code == 200 and it.get_json()["Open"] == "Apri"
    assert it.get_json()["{message} Reconnecting in {seconds} s…"] == "{message} Nuovo tentativo tra {seconds} s…"
    assert "Skip to content" not in it.get_json()   # only what the scripts use
    assert client.get("/i18n/en.json").get_json() == {}   # English: the keys themselves
    assert client.get("/i18n/xx.json").status_code == 404
    page = client.get("/login", headers={"Accept-Language": "it"}).get_data(as_text=True)
    assert '<meta name="ponte-catalog" content="/i18n/it.json">' in page


# -- dates, numbers, the time zone ----------------------------------------------------------------

def test_dates_and_numbers_follow_the_language_and_the_gateways_time_zone(tmp_path, redis_server, prefix):
    from gateway import create_app, templating

    app = create_app({"instance_path": str(tmp_path / "instance"), "redis_url": redis_server,
                      "redis_prefix": prefix, "timezone": "Europe/Rome"})
    winter, summer = datetime(2026, 3, 1, 14, 5), datetime(2026, 7, 1, 14, 5)
    with app.test_request_context(headers={"Accept-Language": "it"}):
        assert templating.when(winter) == "01/03/2026 15:05"
        assert templating.when(summer) == "01/07/2026 16:05"
        assert templating.size(1536) == "1,5 KB" and templating.number(12500) == "12.500"
        assert templating.span(273600) == "3 g 4 h"
        assert templating.ago(None) == "mai"
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert templating.when(winter) == "1 Mar 2026, 15:05"
        assert templating.size(1536) == "1.5 KB" and templating.number(12500) == "12,500"


def test_a_wrong_time_zone_stops_the_start():
    with pytest.raises(ConfigError, match="timezone"):
        load_settings(overrides={"timezone": "Mars/Olympus_Mons", "instance_path": "/tmp/unused-ponte"},
                      environ={})


def test_the_locale_column_defaults_to_the_browsers(app, users):
    with app.app_context():
        assert ops.get_user("boss").locale == ""
        assert db.session.get(type(ops.get_user("boss")), ops.get_user("boss").id).locale == ""


def test_api_error_messages_follow_the_language_and_keep_their_codes(client, users):
    for lang, message in (("en", "Log in or send a valid API token."), ("it", "Acceda oppure invii un token API valido.")):
        resp = client.get("/api/v1/me/machines", headers={"Accept-Language": lang})
        assert resp.status_code == 401
        assert resp.get_json()["error"] == {"code": "unauthorized", "message": message}


def test_admin_pages_in_italian(client, users, login):
    login("boss")
    html = client.get("/admin/", headers={"Accept-Language": "it"}).get_data(as_text=True)
    assert "<h1>Panoramica</h1>" in html and "boss ha effettuato l’accesso" in html   # boss's login, in a sentence
    assert "<code>login</code>" in html                                     # the event's name kept beside them
    audit = client.get("/admin/audit", headers={"Accept-Language": "it"}).get_data(as_text=True)
    assert "Registro attività" in audit and "Dal giorno" in audit and "UTC" not in audit
