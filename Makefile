# Casework: `make run` serves the demo on http://127.0.0.1:5000 (PORT=5001 for another port), `make test` runs the whole suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi

.PHONY: run test install install-dev translations db demo lint messages clean bench-smoke screenshots

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

translations: $(VENV)/.installed
	$(BIN)/pybabel compile --statistics -d translations

# The demo never runs on a known key: a random one is written once (keep it: it signs the sessions).
instance/secret_key:
	@mkdir -p instance
	@umask 077 && $(PY) -c "import secrets; print(secrets.token_hex(32))" > $@
	@echo "created a random SECRET_KEY in $@ (production: set SECRET_KEY instead, see docs/deploy.md)"

db: install translations instance/secret_key
	$(FLASK) db upgrade
	$(FLASK) casework demo --if-empty
	$(FLASK) casework sweep

# `make run PORT=5001` when 5000 is taken.
PORT ?= 5000
run: db
	$(FLASK) run --host 127.0.0.1 --port $(PORT)

# The suite runs at three frozen clocks (tests/conftest.py): a weekday 10:30, a 调休 working Saturday
# and a public holiday. `make test CLOCKS=weekday` runs one.
CLOCKS ?= weekday makeup-saturday holiday
test: install-dev translations
	@set -e; for clock in $(CLOCKS); do \
	  echo "== suite clock: $$clock"; \
	  CASEWORK_TEST_CLOCK=$$clock $(BIN)/python -m pytest $(PYTEST_ARGS); \
	done

# Load: a 60-second locust smoke against gunicorn (2 sync workers) on a generated SQLite database
# (bench/load/run.py; built once, ≈ 1 min). Not part of `make test`: it needs a minute of both cores.
# BENCH_ARGS="--fault kill9" / "--fault hup" / "--duration 900" (soak): see docs/benchmarks.md.
$(VENV)/.installed-bench: requirements-bench.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-bench.txt
	touch $@

bench-smoke: $(VENV)/.installed-bench translations
	$(BIN)/python bench/load/run.py $(BENCH_ARGS)
# Browser tests write their screenshots to a temporary folder; this refreshes the README's pictures.
screenshots: install-dev translations
	CASEWORK_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest tests/e2e -q -p no:cacheprovider

lint: install-dev
	$(BIN)/ruff check .

# Re-extract messages after changing UI text, then translate translations/en/LC_MESSAGES/messages.po.
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k _lp:1c,2 -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations

clean:
	rm -rf $(VENV) .pytest_cache
