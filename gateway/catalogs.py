"""The gettext catalogs' upkeep: find the marked strings, merge them into each ``.po``, compile.

``python -m gateway.catalogs update`` (``make messages``) extracts every marked string —
``_()``/``_l()``/``_n()``/``ngettext`` in ``gateway/``, ``{{ _() }}``/``{% trans %}`` in the
templates, ``t()`` in ``novnc_static/*.js``, and the agent's sentences in
``agents/protocol/vncstate.py`` that the portal shows — as ``babel.cfg`` maps them, and merges
them into ``translations/<lang>/LC_MESSAGES/messages.po``; then a translator fills the new
``it`` entries. ``compile`` writes the ``.mo`` files the gateway reads (it also does at start).
The tests compare ``extract()`` with the ``it`` catalog.
"""

from __future__ import annotations

import ast
import logging
import os
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "gateway" / "translations"
#: Marking functions beyond gettext's own (``_``, ``gettext``, ``ngettext``…): Flask-Babel's lazy
#: one, ``gateway.i18n.noop`` (translated later, when read), the page scripts' ``t``.
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "_l": None, "_n": None, "t": None}
#: Folders that hold marked strings (the walk skips the rest: the venv, node_modules, tests).
FOLDERS = ("gateway", "agents", "novnc_static")
#: Strings of modules that cannot import Flask-Babel (the agent runs without it): the
#: gateway passes them through gettext. A babel.cfg section cannot name a module:function.
SENTENCES = {"agents/protocol/vncstate.py": "EMPLOYEE UNKNOWN"}


def extract_sentences(fileobj, keywords, comment_tags, options):
    """A Babel extraction method: every string of the module-level assignments named in the
    ``names`` option (a dict's values, or a lone string)."""
    names = set(options.get("names", "").split())
    for node in ast.parse(fileobj.read()).body:
        if not (isinstance(node, ast.Assign)
                and any(isinstance(target, ast.Name) and target.id in names for target in node.targets)):
            continue
        values = node.value.values if isinstance(node.value, ast.Dict) else [node.value]
        for value in values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                yield value.lineno, None, value.value, []


def extract() -> Catalog:
    """Every marked string of the project, with where it is used."""
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    for path, names in SENTENCES.items():
        method_map.append((path, f"{__name__}:extract_sentences"))
        options_map[path] = {"names": names}
    catalog = Catalog(project="Ponte", charset="utf-8")
    keep = lambda folder: Path(folder).name not in ("node_modules", "__pycache__")  # noqa: E731
    for folder in FOLDERS:
        found = extract_from_dir(ROOT / folder, method_map=_under(method_map, folder), keywords=KEYWORDS,
                                 options_map=_under(options_map, folder), strip_comment_tags=True,
                                 directory_filter=keep)
        for filename, lineno, message, comments, context in found:
            catalog.add(message, None, [(f"{folder}/{filename}", lineno)], auto_comments=comments,
                        context=context)
    return catalog


def _under(mapping, folder: str):
    """``babel.cfg`` patterns are from the project root; ``extract_from_dir`` matches from ``folder``."""
    prefix = folder + "/"
    if isinstance(mapping, dict):
        return {k[len(prefix):]: v for k, v in mapping.items() if k.startswith(prefix)}
    return [(pattern[len(prefix):], method) for pattern, method in mapping if pattern.startswith(prefix)]


def catalog_path(lang: str) -> Path:
    return TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"


def read(lang: str) -> Catalog:
    with catalog_path(lang).open("rb") as fh:
        return read_po(fh, locale=lang)


def update() -> None:
    """Merge the extracted strings into every language's catalog (no fuzzy guesses)."""
    template = extract()
    for po in sorted(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po")):
        lang = po.parent.parent.name
        catalog = read(lang)
        catalog.update(template, no_fuzzy_matching=True)
        with po.open("wb") as fh:
            write_po(fh, catalog, width=100, omit_header=False, ignore_obsolete=True)
        missing = sum(1 for m in catalog if m.id and not m.string)
        print(f"{po.relative_to(ROOT)}: {len(catalog)} entries, {missing} untranslated")


def compile_catalogs(root: Path = TRANSLATIONS) -> None:
    """Write each ``messages.mo`` that is missing or older than its ``.po``."""
    for po in root.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=po.parent.parent.name)
        tmp = mo.with_name(f".{mo.name}.{os.getpid()}")   # gateways starting at once: each its own
        with tmp.open("wb") as fh:
            write_mo(fh, catalog)
        tmp.replace(mo)  # atomic: a gateway starting alongside never reads half a file
        log.info("compiled %s", mo)


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "update":
        update()
    elif command == "compile":
        compile_catalogs()
    else:
        sys.exit("usage: python -m gateway.catalogs update|compile")
