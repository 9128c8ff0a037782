# The two commands a newcomer needs: `make run` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
# WeasyPrint's Debian libraries (libharfbuzz-subset0 makes PDF fonts ~1.6x faster),
# and the names ctypes looks them up by; the fonts billing PDFs are set in (DejaVu Sans,
# with Noto Color Emoji for what it lacks), and the family names fontconfig knows them by.
SYSTEM_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core fonts-noto-color-emoji
SYSTEM_LIBRARIES := pango-1.0 pangoft2-1.0 harfbuzz-subset
SYSTEM_FONTS := "DejaVu Sans" "Noto Color Emoji"

# Django 6.0 needs Python 3.12 or newer. Look on PATH, then in pyenv's versions,
# and run each candidate: a pyenv shim can exist for a version that is not active,
# and Debian's python3.x lacks ensurepip (so venv) until python3.x-venv is installed.
define FIND_PYTHON
for c in "$$PYTHON" python3.14 python3.13 python3.12 python3 \
         $$(ls -d "$${PYENV_ROOT:-$$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -rV); do \
  [ -n "$$c" ] || continue; \
  if "$$c" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then \
    command -v "$$c" 2>/dev/null || echo "$$c"; exit 0; fi; \
done; exit 1
endef
export FIND_PYTHON

.PHONY: help run test smoke lint bench screenshots setup setup-dev demo check-system clean

help:
	@echo "make run    - set everything up and serve the portal on http://$(HOST):$(PORT) with demo data"
	@echo "make test   - set everything up and run the whole test suite (PYTEST_ARGS=... to pass options)"
	@echo "make smoke  - run the production set-up for real (gunicorn, Celery workers, beat) against PostgreSQL and Redis on loopback"
	@echo "make lint   - ruff, the import contracts (docs/architecture.md), Django's system checks, missing migrations"
	@echo "make bench  - run the benchmarks and write docs/benchmarks.md"
	@echo "make screenshots - save the main pages at 360 and 1280 px into docs/screenshots/ (Chromium)"

$(PY):
	@py=$$(bash -c "$$FIND_PYTHON") || { \
	  echo "error: Python 3.12 or newer (with venv) is needed and none was found." >&2; \
	  echo "       Install it (Debian/Ubuntu: sudo apt-get install python3.12 python3.12-venv; or pyenv install 3.13)," >&2; \
	  echo "       or point PYTHON=/path/to/python3.12 at one." >&2; exit 1; }; \
	echo "Creating $(VENV) with $$py"; \
	"$$py" -m venv $(VENV) && $(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@ $(VENV)/.installed-run

check-system: | $(PY)
	@missing=$$($(PY) -c 'import ctypes.util, sys; print(" ".join(n for n in sys.argv[1:] if not ctypes.util.find_library(n)))' $(SYSTEM_LIBRARIES)); \
	if [ -n "$$missing" ]; then \
	  echo "error: WeasyPrint (invoice PDFs) needs system libraries that are missing: $$missing" >&2; \
	  echo "       On Debian or Ubuntu: sudo apt-get install $(SYSTEM_PACKAGES)" >&2; exit 1; fi
	@for font in $(SYSTEM_FONTS); do \
	  if ! fc-list "$$font" 2>/dev/null | grep -q .; then \
	    echo "error: billing PDFs need the font '$$font', which is missing (characters it covers would print as empty boxes)." >&2; \
	    echo "       On Debian or Ubuntu: sudo apt-get install $(SYSTEM_PACKAGES)" >&2; exit 1; fi; \
	done

setup: $(VENV)/.installed-run check-system
	@mkdir -p var
	$(PY) manage.py migrate --noinput

setup-dev: $(VENV)/.installed-dev check-system
	@command -v pdftotext >/dev/null || { \
	  echo "error: the tests need pdftotext (Debian: poppler-utils), which is missing." >&2; \
	  echo "       On Debian or Ubuntu: sudo apt-get install poppler-utils" >&2; exit 1; }

demo: setup
	$(PY) manage.py load_demo

# Without a broker there is no beat: run_due_tasks runs the due schedules, once a minute,
# next to the server, and stops with it.
run: demo
	@echo "Serving on http://$(HOST):$(PORT)/  (tasks in-process, schedules every minute; emails in var/outbox/)"
	@$(PY) manage.py run_due_tasks --every 60 & due=$$!; trap 'kill $$due 2>/dev/null' EXIT; \
	$(PY) manage.py runserver $(HOST):$(PORT)

test: setup-dev
	$(PY) -m pytest -n auto $(PYTEST_ARGS)

# PostgreSQL and Redis on loopback unless told otherwise; the test makes its own database.
smoke: setup-dev
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres} \
	CELERY_BROKER_URL=$${CELERY_BROKER_URL:-redis://127.0.0.1:6379/15} \
	$(PY) -m pytest -p no:randomly tests/smoke/test_production.py $(PYTEST_ARGS)

lint: setup-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(PY) manage.py check --fail-level WARNING
	$(PY) manage.py makemigrations --check --dry-run

# The browser test that checks every page fits 360 and 1280 px also saves the main ones.
screenshots: setup-dev
	@mkdir -p docs/screenshots
	PORTAL_SCREENSHOTS=$(CURDIR)/docs/screenshots $(PY) -m pytest -p no:randomly tests/e2e/test_layout.py $(PYTEST_ARGS)

bench: setup-dev
	$(PY) bench/run.py $(BENCH)

clean:
	rm -rf $(VENV) .pytest_cache
