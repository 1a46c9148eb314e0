# Two commands for a newcomer: `make run` (demo portal on SQLite) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi

# requirements/main.txt pins what the portal runs on, requirements/test.txt that plus the tests' and
# tools' packages; both carry hashes. pyproject.toml keeps ranges for people installing the package.
LOCK := $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links
LOCK_OPTIONS ?=

.PHONY: run test install lock lint translations extract-messages

$(BIN)/.installed: requirements/main.txt requirements/test.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements/test.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

install: $(BIN)/.installed

# Pins that still satisfy pyproject.toml stay; `make lock LOCK_OPTIONS=--upgrade` moves all to the newest allowed.
lock: install
	$(LOCK) $(LOCK_OPTIONS) --output-file requirements/main.txt pyproject.toml
	$(LOCK) $(LOCK_OPTIONS) --extra test --extra lock --constraint requirements/main.txt --output-file requirements/test.txt pyproject.toml

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports

translations: install
	$(BIN)/pybabel compile -d portal/translations --statistics

extract-messages: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -o portal/translations/messages.pot --no-location --omit-header .
	$(BIN)/pybabel update -i portal/translations/messages.pot -d portal/translations --no-fuzzy-matching

# The web server and the worker of the Procfile together (honcho gives web PORT=5000 unless PORT or
# .env says otherwise); one Ctrl-C stops both. Unbuffered, so each process's lines show as written.
run: translations
	$(FLASK) db upgrade
	$(FLASK) demo seed
	PATH="$(abspath $(BIN)):$$PATH" PYTHONUNBUFFERED=1 $(BIN)/honcho start

test: translations
	$(BIN)/pytest
