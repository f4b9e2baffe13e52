# cloudgate: `make run` starts the example service behind the local emulator; `make test` runs every test.
# Both create .venv and install what they need first, from uv.lock (hashed, the same pins as the image):
# `make run` only what running needs, `make test`/`make lint` everything. `make load` runs the load tests' full pass.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Everything (all extras and the dev tools): make test, lint, bench, docs, lock. The name predates uv.
STAMP := $(VENV)/.installed-stamp
# What `make run` needs: the service, the example app (data), the emulator and the client.
RUN_STAMP := $(VENV)/.installed-run
RUN_EXTRAS := --extra data --extra emulator --extra client
# uv installs from the lock: on the PATH if it is there, else bootstrapped from PyPI into .venv by pip.
UV = $(or $(shell command -v uv 2>/dev/null),$(BIN)/uv)
# --frozen: exactly uv.lock, never re-resolved; --inexact: a `make run` after `make test` keeps the dev tools.
# --compile-bytecode, and COMPILE for our own folders: where PYTHONDONTWRITEBYTECODE is set (this machine, CI) Python
# reads .pyc but never writes them, so without these every process (the CLI, each uvicorn of the tests' stacks)
# compiled all it imported: fastapi + google.auth + httpx + uvicorn took 0.82 s of CPU to import, 0.37 s compiled.
# COMPILE runs before every run and test: it compiles only what changed (0.05 s when nothing did); a stale .pyc is
# never used, only ignored.
SYNC = UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --inexact --compile-bytecode --python $(PYTHON)
COMPILE = $(BIN)/python -m compileall -q src app

.PHONY: run test lint unit load bench clean system-deps docs lock image uv

uv:
	@command -v uv >/dev/null 2>&1 || test -x $(BIN)/uv || { \
	  echo "cloudgate: uv not found; creating $(VENV) and installing uv into it from PyPI"; \
	  test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
	  $(BIN)/python -m pip install --disable-pip-version-check --quiet uv; }

$(RUN_STAMP): pyproject.toml uv.lock
	@$(MAKE) --no-print-directory uv
	@echo "cloudgate: installing what running needs into $(VENV) from uv.lock (the first time takes under a minute)"
	$(SYNC) $(RUN_EXTRAS)
	@echo "cloudgate: installed; the command is $(BIN)/cloudgate"
	@touch $(RUN_STAMP)

$(STAMP): pyproject.toml uv.lock
	@$(MAKE) --no-print-directory uv
	@echo "cloudgate: installing cloudgate, every extra and the dev tools into $(VENV) from uv.lock"
	$(SYNC) --all-extras
	@echo "cloudgate: installed; the command is $(BIN)/cloudgate"
	@touch $(STAMP) $(RUN_STAMP)

system-deps:
	@bash scripts/system-deps.sh

run: $(RUN_STAMP)
	@$(COMPILE)
	$(BIN)/cloudgate dev $(ARGS)

# PYTHONDONTWRITEBYTECODE= for the test run: pytest caches a test module's assert-rewritten code only where bytecode
# may be written, and each worker collects every module (3-4 s of CPU per worker from the second run on). Everything
# else is compiled already; __pycache__ is git-ignored and kept out of images and uploads.
test: $(STAMP) system-deps
	@$(COMPILE) tests
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -q -n 3 --dist loadscope

unit: $(STAMP)
	@$(COMPILE) tests
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -q tests/unit

# The same tests as CI's short pass, run longer (tests/load/passes.py); -s shows the figures each test prints.
load: $(STAMP) system-deps
	CLOUDGATE_LOAD=full $(BIN)/python -m pytest -q -s --timeout=3600 tests/load

lint: $(STAMP)
	@! git grep -nE '^(<<<<<<<|>>>>>>>) ' -- . ':!*.md' || { echo 'merge conflict markers left in the files above' >&2; exit 1; }
	$(BIN)/ruff check src tests app bench scripts
	$(BIN)/ruff format --check src tests app bench scripts
	$(BIN)/mypy
	$(BIN)/mypy --strict app

bench: $(STAMP)
	@bash scripts/system-deps.sh wrk h2load
	@for script in bench/[!_]*.py; do [ $$script = bench/chart.py ] && continue; echo "== $$script"; $(BIN)/python $$script || exit 1; done
	$(BIN)/python bench/chart.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

lock: $(STAMP)
	$(BIN)/python scripts/lock.py $(ARGS)

image: system-deps
	scripts/build-image.sh $(or $(TAG),localhost/cloudgate:latest)

docs: $(STAMP)
	$(BIN)/python scripts/cli_reference.py
