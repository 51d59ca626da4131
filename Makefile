# Two entry points: `make demo` and `make test`. Both (re)create .venv with the pinned dependencies.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint clean

setup: $(STAMP)

# Reinstall whenever the dependency pins change.
$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed, found " + sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "setup: installing pinned dependencies into $(VENV)"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@command -v bwrap >/dev/null 2>&1 || ./scripts/install-bubblewrap.sh || echo "setup: bubblewrap unavailable; grading will run with resource limits only"
	@command -v chromium >/dev/null 2>&1 || ./scripts/install-chromium.sh || echo "setup: chromium unavailable; the browser checks (feedback page, review app) will be skipped"
	@./scripts/install-postgresql.sh || echo "setup: PostgreSQL unavailable; the PostgreSQL gradebook tests will be skipped"
	@touch $(STAMP)

demo: setup
	@$(BIN)/autograder demo

test: setup
	@$(BIN)/python -m pytest

lint: setup
	@$(BIN)/ruff check autograder courselib tests

clean:
	rm -rf $(VENV) build *.egg-info
