# Two commands matter to a newcomer: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install demo seed serve test test-embedded lint check-deploy migrations-check clean

# Re-install whenever pyproject.toml changes, so a pulled dependency arrives by itself.
$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

install: $(INSTALLED)

# Embedded default: SQLite file + eager Celery, demo book, admin user, server on 127.0.0.1:8000.
demo: seed serve

seed: $(INSTALLED)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	# Bill the demo book up to its own date (a second run bills nothing new).
	$(PY) manage.py run_billing --as-of 2026-03-01
	# Recognize its revenue: months before February closed, then everything earned to the date.
	$(PY) manage.py recognize_revenue --as-of 2026-01-31 --close
	$(PY) manage.py recognize_revenue --as-of 2026-03-01
	$(PY) manage.py ensure_demo_admin

serve: $(INSTALLED)
	$(PY) manage.py runserver 127.0.0.1:8000

# Whole suite; PostgreSQL + Redis when they answer on localhost (or the environment names them).
test: $(INSTALLED)
	@eval "$$($(PY) scripts/test_services.py auto)" && $(PY) -m pytest $(PYTEST_ARGS)

# Whole suite on the newcomer's default: SQLite and eager Celery.
test-embedded: $(INSTALLED)
	@eval "$$($(PY) scripts/test_services.py embedded)" && $(PY) -m pytest $(PYTEST_ARGS)

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

migrations-check: $(INSTALLED)
	$(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache .ruff_cache .hypothesis
