# The short verbs. `make run` and `make test` each set up everything they need on a fresh clone.
VENV    := .venv
BIN     := $(VENV)/bin
PYTHON  ?= python3
HOST    ?= 127.0.0.1
PORT    ?= 8000
SUDO    := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: run test fuzz bench lint migration chromium pgbouncer tesseract clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Reinstalled whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/keeptabs serve --host $(HOST) --port $(PORT)

chromium:
	@test -x /usr/bin/chromium || { $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium; }

# The PostgreSQL tests also run the request pool through PgBouncer in transaction mode (tests/api/test_pgbouncer.py).
pgbouncer:
	@test -x /usr/sbin/pgbouncer || { $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q pgbouncer; }

# Reads the text in photos (server/attachments/ocr.py). Optional for `make run`: without it OCR is off (logged once).
tesseract:
	@command -v tesseract >/dev/null || { $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q tesseract-ocr; }

test: $(VENV)/.installed-dev chromium pgbouncer tesseract
	$(BIN)/pytest

fuzz: $(VENV)/.installed-dev
	$(BIN)/pytest -m slow

bench: $(VENV)/.installed-dev chromium tesseract
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/mypy --strict sync

# Writes the next incremental migration from the models: make migration NAME="what changed".
migration: $(VENV)/.installed-dev
	@test -n "$(NAME)" || { echo 'usage: make migration NAME="what changed"'; exit 2; }
	$(BIN)/python -m server.migrate revision "$(NAME)"

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
