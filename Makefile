# Two commands matter on a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
PIP_FLAGS ?= --quiet --disable-pip-version-check

.PHONY: install demo system-deps lint test bench i18n

install:
	$(PYTHON) -m pip install $(PIP_FLAGS) -e '.[dev]'

demo: install
	$(PYTHON) -m mailclean demo

# Dovecot and its mail user, for the IMAP tests (needs root: CI and dev machines are).
system-deps:
	bash .ci/dovecot-setup.sh

lint: install
	$(PYTHON) -m ruff check .

test: system-deps install
	$(PYTHON) -m pytest -q

bench: system-deps install
	$(PYTHON) bench/sync.py

# Re-extract the messages, merge them into the French catalogue, compile it.
i18n:
	pybabel extract -k _ -k ngettext:1,2 --no-location --sort-output --project mailclean -o mailclean/i18n/mailclean.pot mailclean
	pybabel update -i mailclean/i18n/mailclean.pot -d mailclean/i18n -D mailclean -l fr --no-fuzzy-matching
	pybabel compile -d mailclean/i18n -D mailclean -l fr --statistics
