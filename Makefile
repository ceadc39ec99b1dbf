# Two entry points (see README): `make book` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PROFILE ?= quick

.PHONY: all setup book test lock bench clean
all: book

$(VENV)/.installed: requirements-lock.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-lock.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

setup: $(VENV)/.installed

## Execute every claim notebook (profile $(PROFILE)) and build the HTML book.
book: setup
	$(BIN)/sparsestudy run --profile $(PROFILE)
	$(BIN)/sparsestudy book --profile $(PROFILE)

## The whole test suite: unit, property, notebook (nbval) and book-build tests.
test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python benchmarks/bench_solvers.py

lock: setup
	$(BIN)/python -m pip freeze --exclude-editable | grep -v -i '^sparsestudy' \
	  | sed -E 's/^torch==([0-9.]+)\+cpu$$/torch==\1/' > requirements-lock.txt.new
	mv requirements-lock.txt.new requirements-lock.txt

clean:
	rm -rf _build book/chapters book/scoreboard.md results
