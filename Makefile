# Ponte: two commands on a fresh Debian/Ubuntu machine.
#   make demo   everything on one box (embedded Redis, SQLite, Xvnc desktop, agent); prints URL and logins
#   make test   installs what the tests need and runs them
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
NOVNC := novnc_static/node_modules/@novnc/novnc/package.json

# make fuzz: each fuzz target (tests/fuzz) for 10 minutes, corpora kept in test-artifacts/
.PHONY: demo test bench fuzz deps messages system-deps-demo system-deps-test clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.requirements: requirements.txt | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	@touch $@

$(NOVNC): novnc_static/package-lock.json
	@command -v npm >/dev/null || scripts/system-deps.sh demo
	cd novnc_static && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The OpenID provider the company sign-in tests start (tests/support/oidc).
OIDC_IDP := tests/support/oidc/node_modules/.installed
$(OIDC_IDP): tests/support/oidc/package-lock.json
	@command -v npm >/dev/null || scripts/system-deps.sh demo
	cd tests/support/oidc && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# axe-core, the accessibility rules the browser tests run on every page (tests/browser/test_axe.py).
AXE := tests/support/axe/node_modules/.installed
$(AXE): tests/support/axe/package-lock.json
	@command -v npm >/dev/null || scripts/system-deps.sh demo
	cd tests/support/axe && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The gettext catalogs: the .po files are the source; their .mo are built here (the gateway
# also builds a missing or older one when it starts: gateway/i18n.py).
CATALOGS := $(patsubst %.po,%.mo,$(wildcard gateway/translations/*/LC_MESSAGES/messages.po))
%.mo: %.po $(VENV)/.requirements
	$(VENV)/bin/pybabel -q compile -i $< -o $@

# make messages: find the marked strings again (templates, Python, page scripts) and merge them
# into each language's catalog; then translate the new entries of the it catalog.
messages: $(VENV)/.requirements
	$(PY) -m gateway.catalogs update

deps: $(VENV)/.requirements $(NOVNC) $(OIDC_IDP) $(AXE) $(CATALOGS)

system-deps-demo:
	@scripts/system-deps.sh demo

system-deps-test:
	@scripts/system-deps.sh test

demo: system-deps-demo deps
	$(PY) -m demo

# Tests spend most of their time waiting on real servers: two workers on two cores, one test
# file per worker at a time (module fixtures such as a shared Xvnc stay single).
TEST_JOBS ?= 2
test: system-deps-test deps
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadfile

bench: deps
	$(PY) -m bench

fuzz: deps
	$(PY) -m tests.fuzz.run --seconds 600 --corpus test-artifacts/fuzz-corpus

clean:
	rm -rf $(VENV) novnc_static/node_modules demo-state test-artifacts
