# SecureChat: `make run` serves the site, `make test` runs every test, `make bench`
# prints the benchmark tables. Each target sets up what it needs on a fresh machine.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV      := .venv
PY        := $(VENV)/bin/python
# Tests and benchmarks use Redis (started when none answers here); `make run` uses it
# only when REDIS_URL is in your environment, else the in-memory layer (one process).
REDIS_URL ?= redis://127.0.0.1:6379/0
HOST      ?= 127.0.0.1
PORT      ?= 8000
# PostgreSQL for the second test leg (this machine runs one with trust auth).
PG_URL    ?= postgres://postgres@127.0.0.1:5432/securechat
# The websocket protocol's frame limit (settings.SECURECHAT_WS_MAX_FRAME_BYTES): uvicorn
# refuses a larger frame (close 1009) before buffering it, instead of its 16 MiB default.
WS_MAX_SIZE := 65536
PYTEST_ARGS ?= --durations=15
# State (`make run`): var/, the SQLite database, the secret key and the blobs, readable by
# their owner only (directories 0700, files 0600; docs/operations.md).
VAR_DIR   := $(or $(SECURECHAT_VAR_DIR),var)
MEDIA_DIR := $(or $(MEDIA_ROOT),$(VAR_DIR)/media)

test test-slow test-sqlite test-postgres bench screenshots: export REDIS_URL := $(REDIS_URL)

.PHONY: help run test test-slow test-sqlite test-postgres bench lint lint-js deps dev-deps python-deps node-deps \
        debian-deps redis migrate var-dirs clean bundle release-hashes

help:
	@echo "make run    serve SecureChat on http://$(HOST):$(PORT) (uvicorn)"
	@echo "make test   install everything needed, then run the suite on SQLite and PostgreSQL"
	@echo "make test-slow  the tests marked slow (over 30 s each), on both databases"
	@echo "make bench  run the benchmarks (docs/benchmarks.md)"
	@echo "make lint   ruff, eslint and the function-length check"
	@echo "make bundle build the SRI-pinned browser bundles into $(BUNDLE_DIR)/"
	@echo "make release-hashes  print the SHA-256 of every published bundle"

# --- Python -----------------------------------------------------------------
# Python >= 3.12 from PATH, or the newest under pyenv; a clear stop otherwise.
define find_python
for c in python3.13 python3.12 python3 \
         $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.1[2-9]*/bin/python 2>/dev/null | sort -V -r); do \
  if command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
    command -v $$c; exit 0; fi; \
done; \
echo "SecureChat needs Python >= 3.12 (on PATH or under pyenv); none was found." >&2; exit 1
endef

# The last step installs the CLI (client/ and agecrypt/, pyproject.toml) as the console
# script $(VENV)/bin/securechat, editable so it runs this checkout's code.
$(VENV)/.installed: requirements.txt pyproject.toml
	@if [ ! -x $(PY) ] || ! $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then \
	  rm -rf $(VENV); py=$$($(find_python)); echo "Creating $(VENV) with $$py"; $$py -m venv $(VENV); fi
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

python-deps: $(VENV)/.installed

# Test, benchmark and lint tools on top (requirements-dev.txt); production installs skip it.
$(VENV)/.dev-installed: requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

dev-deps: $(VENV)/.dev-installed node-deps

# --- Node (tus-js-client for the browser, age-encryption for interop tests) ---
node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed (Debian package npm)"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

node-deps: node_modules/.installed

# --- Browser bundles (DESIGN.md §1): static/js entry points → hash-named files and a
# manifest (entry → file, sha384 integrity) that the templates read. Reproducible:
# two fresh clones give byte-identical files (tools/bundle.mjs says how).
BUNDLE_DIR     := static/dist
BUNDLE_SOURCES := $(sort $(shell find static/js -name '*.js')) tools/bundle.mjs package-lock.json

$(BUNDLE_DIR)/manifest.json: node_modules/.installed $(BUNDLE_SOURCES)
	node tools/bundle.mjs $(BUNDLE_DIR)

bundle: $(BUNDLE_DIR)/manifest.json

# What a release publishes for `securechat verify-web`: one "sha256  file" line per
# bundle, as sha256sum prints it (so `sha256sum -c` checks a downloaded copy).
release-hashes: bundle
	@cd $(BUNDLE_DIR) && $(CURDIR)/$(PY) -c 'import json; \
	  [print(e["sha256"] + "  " + e["file"]) for _, e in sorted(json.load(open("manifest.json"))["entries"].items())]'

# --- Debian packages the tests drive: the age CLI, Chromium, Redis, and for the
# deployment tests nginx, systemd-analyze, sqlite3, pg_dump and curl -----------
debian-deps:
	@missing=""; \
	command -v age >/dev/null || missing="$$missing age"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v node >/dev/null || missing="$$missing nodejs npm"; \
	command -v nginx >/dev/null || missing="$$missing nginx"; \
	command -v systemd-analyze >/dev/null || missing="$$missing systemd"; \
	command -v sqlite3 >/dev/null || missing="$$missing sqlite3"; \
	command -v pg_dump >/dev/null || missing="$$missing postgresql-client"; \
	command -v curl >/dev/null || missing="$$missing curl"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "Please install these Debian packages:$$missing"; exit 1; fi; \
	fi

# --- Redis: start one when nothing answers on REDIS_URL ----------------------
redis: python-deps
	@if $(PY) -c 'import sys, redis; redis.from_url(sys.argv[1], socket_timeout=2).ping()' "$(REDIS_URL)" 2>/dev/null; then \
	  echo "Redis answers on $(REDIS_URL)"; \
	else \
	  port=$$($(PY) -c 'import sys, urllib.parse as u; print(u.urlsplit(sys.argv[1]).port or 6379)' "$(REDIS_URL)"); \
	  mkdir -p var/redis; echo "Starting redis-server on 127.0.0.1:$$port"; \
	  redis-server --daemonize yes --bind 127.0.0.1 --port $$port --save "" --appendonly no \
	    --dir $(CURDIR)/var/redis --logfile $(CURDIR)/var/redis/redis.log; \
	  for i in $$(seq 50); do $(PY) -c 'import sys, redis; redis.from_url(sys.argv[1]).ping()' "$(REDIS_URL)" 2>/dev/null && break; sleep 0.1; done; \
	fi

deps: python-deps node-deps

# Creates the state directories private and tightens a tree made before they were; the
# umask makes what the server writes later (database, WAL, blobs) private too.
var-dirs:
	umask 077 && mkdir -p $(VAR_DIR) $(MEDIA_DIR)
	chmod 0700 $(VAR_DIR) $(MEDIA_DIR)
	@for f in $(VAR_DIR)/db.sqlite3 $(VAR_DIR)/db.sqlite3-wal $(VAR_DIR)/db.sqlite3-shm \
	  $(VAR_DIR)/secret_key $(VAR_DIR)/totp_key; do [ ! -e "$$f" ] || chmod 0600 "$$f"; done

migrate: python-deps var-dirs
	umask 077 && $(PY) manage.py migrate --noinput

# --- The two commands of the README ------------------------------------------
run: deps migrate bundle
	@echo "SecureChat on http://$(HOST):$(PORT)"
	umask 077 && exec $(PY) -m uvicorn securechat.asgi:application --host $(HOST) --port $(PORT) \
	  --ws websockets-sansio --ws-max-size $(WS_MAX_SIZE) --no-server-header --no-proxy-headers

test: debian-deps dev-deps redis bundle lint-js
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres

# The tests marked `slow` (over 30 s each), on SQLite and (dbsensitive) PostgreSQL.
test-slow: debian-deps dev-deps redis bundle
	$(MAKE) --no-print-directory test-sqlite MARKS="slow and not big" ALLOW_EMPTY=1
	$(MAKE) --no-print-directory test-postgres MARKS="slow and not big" ALLOW_EMPTY=1

# Which tests a leg runs: `make test` all but `slow` and `big`; `make test-slow` the `slow`
# ones (`big` data and load live in `make bench`).
MARKS ?= not slow and not big
ALLOW_EMPTY ?=

# A leg runs in two parts: every test but Chromium's on TEST_PROCESSES processes
# (pytest-xdist; a test file stays on one process, with its module's servers), then the
# Chromium tests on one: they time what a person sees and share one Chromium. Both parts
# run, and the leg fails when either fails. pytest's exit 5 ("no test collected") is
# fine for one part (PYTEST_ARGS may name files of one kind), and for both only on the
# slow legs (ALLOW_EMPTY), which may be empty. The benchmark's `big` tests measure memory
# and run on one process (TEST_PROCESSES=1).
TEST_PROCESSES ?= 2
ifeq ($(TEST_PROCESSES),1)
SPREAD :=
else
SPREAD := -n $(TEST_PROCESSES) --dist loadfile
endif
# $(1): the environment of the leg's database, $(2): its marker expression.
define run_leg
$(1) $(PY) -m pytest $(PYTEST_ARGS) $(SPREAD) -m "($(2)) and not browser" && spread=0 || spread=$$?; \
echo "== ... and the Chromium tests, on one process =="; \
$(1) $(PY) -m pytest $(PYTEST_ARGS) -m "($(2)) and browser" && chromium=0 || chromium=$$?; \
for rc in $$spread $$chromium; do [ $$rc = 0 ] || [ $$rc = 5 ] || exit $$rc; done; \
[ $$spread$$chromium != 55 ] || [ -n "$(ALLOW_EMPTY)" ] || { echo "no test collected"; exit 5; }
endef

test-sqlite:
	@echo "== Test suite on SQLite ($(MARKS)): all but Chromium's (processes: $(TEST_PROCESSES)) =="
	$(call run_leg,env -u DATABASE_URL EXPECT_DB_VENDOR=sqlite,$(MARKS))

# The database-sensitive part of the suite (marked `dbsensitive`) on PostgreSQL. The
# server must answer; the database named in PG_URL need not exist (pytest-django
# creates test_<name>_gw<N> through the maintenance database, one per process).
test-postgres:
	@if ! $(PY) -c 'import sys, psycopg; from urllib.parse import urlsplit as u; \
	  psycopg.connect(u(sys.argv[1])._replace(path="/postgres").geturl(), connect_timeout=3).close()' \
	  "$(PG_URL)" 2>/dev/null; then \
	  if [ -n "$${REQUIRE_POSTGRES:-}" ]; then echo "PostgreSQL does not answer on $(PG_URL)"; exit 1; fi; \
	  echo "== PostgreSQL leg skipped: nothing answers on $(PG_URL) (set PG_URL) =="; exit 0; fi; \
	echo "== Database-sensitive tests on PostgreSQL: all but Chromium's (processes: $(TEST_PROCESSES)) =="; \
	$(call run_leg,DATABASE_URL=$(PG_URL) EXPECT_DB_VENDOR=postgresql,dbsensitive and ($(MARKS)))

# Each benchmark prints a Markdown table against a baseline measured in the same run
# (docs/benchmarks.md). BENCH_ARGS=--quick gives a shorter run of each where offered.
# Then the tests marked `big` (256 MiB or more, pass/fail), which no test leg runs.
BENCH_ARGS ?=
bench: debian-deps dev-deps redis bundle
	$(PY) bench/crypto.py $(BENCH_ARGS)
	$(PY) bench/browser_crypto.py $(BENCH_ARGS)
	$(PY) bench/channel_layer.py $(BENCH_ARGS)
	$(PY) bench/messaging.py $(BENCH_ARGS)
	$(PY) bench/files.py
	$(PY) bench/browser_files.py
	$(PY) bench/browser_accounts.py $(BENCH_ARGS)
	$(PY) bench/browser_history.py $(BENCH_ARGS)
	$(PY) bench/group_limit.py $(BENCH_ARGS)
	$(PY) bench/load.py $(BENCH_ARGS)
	$(MAKE) --no-print-directory test-sqlite MARKS="big" ALLOW_EMPTY=1 TEST_PROCESSES=1

# ruff, eslint, and no function over 60 lines outside tests and migrations
# (tools/function_lengths.py lists any, Python and JavaScript).
lint: $(VENV)/.dev-installed lint-js
	$(PY) -m ruff check .
	$(PY) tools/function_lengths.py

# eslint over the browser code, the build tool and the JS test helpers (eslint.config.js);
# `make test` runs it too, so a lint error fails CI like a failing test.
lint-js: node_modules/.installed
	node_modules/.bin/eslint --max-warnings 0 .

clean:
	rm -rf $(VENV) node_modules var staticfiles $(BUNDLE_DIR) .pytest_cache .ruff_cache

# Screenshots of the main pages (login, signup, the recovery code, 2FA setup on the profile,
# conversation list, a conversation with a file and an upload in progress, a group, the
# key-change notice) into docs/screenshots/.
.PHONY: screenshots
screenshots: debian-deps dev-deps redis bundle
	env -u DATABASE_URL SECURECHAT_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots \
	  $(PY) -m pytest tests/browser/test_screenshots.py -q
