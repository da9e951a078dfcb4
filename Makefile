# Two commands matter on a fresh machine:  `make demo`  and  `make test`.
# Both work in a project-local virtual environment, .venv/, made here when missing: no
# activation needed, nothing installed into the system's Python.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP_FLAGS ?= --quiet --disable-pip-version-check

.PHONY: install dev demo system-deps lint test bench i18n clean-venv

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_FLAGS) --upgrade pip

# What `mailclean` needs to run, and nothing more (the demo needs no test tools).
install: $(PY)
	$(PY) -m pip install $(PIP_FLAGS) -e .

# The tests' and linters' tools as well.
dev: $(PY)
	$(PY) -m pip install $(PIP_FLAGS) -e '.[dev]'

demo: install
	$(PY) -m mailclean demo

# Dovecot (and the other test servers), openssl and Chromium, for the tests (needs root:
# CI and dev machines are). See README, "What the tests install".
system-deps:
	bash .ci/dovecot-setup.sh

lint: dev
	$(PY) -m ruff check .
	$(PY) -m mypy

test: system-deps dev
	$(PY) -m pytest -q -n 2

bench: system-deps dev
	$(PY) bench/sync.py

clean-venv:
	rm -rf $(VENV)

# Re-extract the messages, merge them into the French catalogue, compile it.
i18n: dev
	$(VENV)/bin/pybabel extract -k _ -k ngettext:1,2 --no-location --sort-output --project mailclean -o mailclean/i18n/mailclean.pot mailclean
	$(VENV)/bin/pybabel update -i mailclean/i18n/mailclean.pot -d mailclean/i18n -D mailclean -l fr --no-fuzzy-matching
	$(VENV)/bin/pybabel compile -d mailclean/i18n -D mailclean -l fr --statistics
