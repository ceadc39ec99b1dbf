# Two entry points (see README): `make book` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PROFILE ?= quick

.PHONY: all setup chromium book test lock bench clean
all: book

$(VENV)/.installed: requirements-lock.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-lock.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

## Chromium for the browser test (tests/test_browser.py drives it with Playwright; Debian's
## package, since browser downloads fail): installed where missing when root with apt-get.
chromium:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "note: no Chromium, and no root apt-get to install it: the browser test will skip"; fi

setup: $(VENV)/.installed chromium

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
