# Two commands matter on a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
PIP_FLAGS ?= --quiet --disable-pip-version-check

.PHONY: install demo system-deps lint test bench

install:
	$(PYTHON) -m pip install $(PIP_FLAGS) -e '.[dev]'

demo: install
	mailclean demo

# Dovecot and its mail user, for the IMAP tests (needs root: CI and dev machines are).
system-deps:
	bash .ci/dovecot-setup.sh

lint: install
	$(PYTHON) -m ruff check .

test: system-deps install
	$(PYTHON) -m pytest -q

bench: system-deps install
	$(PYTHON) bench/sync.py
