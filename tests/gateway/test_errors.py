"""One exception tree for the gateway: every exception it defines lives in ``gateway.errors``,
under ``GatewayError``, and appears in the tree that module's docstring draws."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import gateway
from gateway import errors


def _gateway_modules():
    for info in pkgutil.walk_packages(gateway.__path__, "gateway."):
        if ".migrations" in info.name or info.name.endswith("__main__"):
            continue
        yield importlib.import_module(info.name)


#: Control-flow signals, not errors: gevent.Timeout's exception for a socket too slow to speak,
#: and "this view took the socket". They go from ``upgrade``/``server`` to their one catcher
#: and never reach a caller, so they are not part of the tree.
SIGNALS = {"gateway.server._HeadTooSlow", "gateway.upgrade.TooSlow", "gateway.upgrade.Upgraded",
           "gateway.recording.render._NeedMore"}   # "more bytes first", caught inside render


def test_every_exception_of_the_gateway_is_in_the_one_tree():
    strays = sorted({f"{cls.__module__}.{cls.__qualname__}"
                     for module in _gateway_modules()
                     for _, cls in inspect.getmembers(module, inspect.isclass)
                     if issubclass(cls, BaseException) and cls.__module__.startswith("gateway")
                     and cls.__module__ != "gateway.errors"} - SIGNALS)
    assert strays == [], "define these in gateway/errors.py, under GatewayError"


def test_the_tree_is_drawn_and_rooted():
    defined = [cls for _, cls in inspect.getmembers(errors, inspect.isclass)
               if issubclass(cls, BaseException) and cls.__module__ == "gateway.errors"]
    assert len(defined) > 20
    for cls in defined:
        assert issubclass(cls, errors.GatewayError), cls
        assert f" {cls.__name__} " in errors.__doc__, f"{cls.__name__} is missing from the drawn tree"
        parent = cls.__mro__[1]
        if parent not in (errors.GatewayError, Exception):   # drawn indented under its parent
            lines = errors.__doc__.splitlines()
            row = next(i for i, line in enumerate(lines) if f" {cls.__name__} " in line)
            above = [line for line in lines[:row] if f" {parent.__name__} " in line]
            assert above, f"{cls.__name__} should be drawn under {parent.__name__}"
