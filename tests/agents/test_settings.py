"""The one settings coercion (agents/protocol/settings.py) the agent and the gateway load with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from agents.protocol import settings
from agents.protocol.errors import SettingsError


@dataclass(frozen=True)
class Example:
    name: str = ""
    port: int = 1
    ratio: float = 1.0
    debug: bool = False
    secure: bool | None = None
    hosts: tuple[str, ...] = ()


@pytest.mark.parametrize("field, raw, value", [
    ("name", "x", "x"), ("name", Path("/tmp/x"), "/tmp/x"),
    ("port", 8080, 8080), ("port", "8080", 8080), (("port"), " -3 ", -3),
    ("ratio", 2, 2.0), ("ratio", "2.5", 2.5), ("ratio", 0.25, 0.25),
    ("debug", True, True), ("debug", "yes", True), ("debug", " On ", True), ("debug", "0", False),
    ("debug", "", False), ("debug", "off", False),
    ("secure", None, None), ("secure", "true", True), ("secure", False, False),
    ("hosts", "a, b,,c ", ("a", "b", "c")), ("hosts", ["a", "b"], ("a", "b")), ("hosts", "", ()),
])
def test_values_become_their_fields_type(field, raw, value):
    built = settings.build(Example, {field: raw})
    assert getattr(built, field) == value and type(getattr(built, field)) is type(value)


@pytest.mark.parametrize("field, raw, wanted", [
    ("name", 1234, "a string"), ("name", None, "a string"), ("name", ["a"], "a string"),
    ("port", "abc", "an int"), ("port", 1.5, "an int"), ("port", True, "an int"), ("port", "8080.0", "an int"),
    ("ratio", "fast", "a number"), ("ratio", False, "a number"),
    ("debug", "maybe", "a bool"), ("debug", 1, "a bool"),
    ("secure", "perhaps", r"a bool \(or unset\)"),
    ("hosts", ["a", 1], "a list of strings"), ("hosts", 5, "a list of strings"),
])
def test_a_wrong_type_is_refused_with_the_settings_name(field, raw, wanted):
    with pytest.raises(SettingsError, match=rf"setting '{field}' must be {wanted}, not "):
        settings.build(Example, {field: raw})


def test_unknown_settings_are_named():
    with pytest.raises(SettingsError, match="unknown agent settings: colour, size"):
        settings.build(Example, {"size": 1, "colour": "blue", "port": 2}, what="agent settings")


def test_environment_and_toml_layers():
    env = {"APP_PORT": "9", "APP_HOSTS": "a,b", "OTHER_PORT": "1", "APP_NOT_A_FIELD": "x"}
    assert settings.from_environment(Example, env, "APP_") == {"port": "9", "hosts": "a,b"}
    assert settings.toml_table(b'[app]\nport = 3\nhosts = ["x"]\n', "app", "f.toml") == {"port": 3, "hosts": ["x"]}
    assert settings.toml_table(b'[other]\nport = 3\n', "app", "f.toml") == {}
    with pytest.raises(SettingsError, match="cannot read f.toml"):
        settings.toml_table(b"[app\n", "app", "f.toml")
    with pytest.raises(SettingsError, match=r"f.toml: \[app\] must be a table"):
        settings.toml_table(b"app = 1\n", "app", "f.toml")
    with pytest.raises(SettingsError, match="cannot read f.toml"):
        settings.toml_table(b"\xff", "app", "f.toml")


def test_both_loaders_use_it():
    """The agent's and the gateway's settings coerce alike (the gateway once compared annotation strings)."""
    from agents.config import ConfigError as AgentConfigError
    from agents.config import load_settings as agent_settings
    from gateway.config import ConfigError as GatewayConfigError
    from gateway.config import load_settings as gateway_settings

    with pytest.raises(AgentConfigError, match="setting 'insecure_dev' must be a bool"):
        agent_settings(None, environ={"PONTE_AGENT_INSECURE_DEV": "maybe"})
    with pytest.raises(GatewayConfigError, match=r"setting 'secure_cookies' must be a bool \(or unset\)"):
        gateway_settings(None, environ={"PONTE_SECURE_COOKIES": "maybe"})
    with pytest.raises(GatewayConfigError, match="setting 'port' must be an int"):
        gateway_settings(None, environ={"PONTE_PORT": "80.5"})
