# One command each: `make serve` runs the gateway on its defaults, `make test` runs everything CI runs.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: serve test quick lint bench clean

$(STAMP): pyproject.toml clients/python/pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { \
	  echo "smsgw needs Python 3.11 (spyne 2.14 does not import on 3.12+); '$(PYTHON)' was not found." >&2; \
	  echo "Install Python 3.11 or run: make PYTHON=/path/to/python3.11 ..." >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { \
	  echo "smsgw needs Python 3.11 (spyne 2.14 does not import on 3.12+); '$(PYTHON)' is $$($(PYTHON) -V 2>&1)." >&2; \
	  echo "Run: make PYTHON=/path/to/python3.11 ..." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]' -e ./clients/python
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/smsgw serve

lint: $(STAMP)
	$(BIN)/ruff check service tests bench clients
	$(BIN)/mypy
	$(BIN)/mypy --strict clients/python/smsgw_client

test: lint
	$(BIN)/pytest -n 2 tests

quick: $(STAMP)
	$(BIN)/pytest -q -x -m 'not slow' tests

bench: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	command -v wrk >/dev/null || { apt-get update && apt-get install -y wrk; }
	$(BIN)/python bench/submit.py
	$(BIN)/python bench/wsgi_servers.py
	$(BIN)/python bench/soap.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
