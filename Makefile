# cloudgate: `make run` starts the example service behind the local emulator; `make test` runs every test.
# Both create .venv and install what they need first. `make load` runs the load tests' full pass (CI runs a short one).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint unit load bench clean system-deps docs lock image

# The first install takes a couple of minutes: say so, and let pip show each package as it goes (not --quiet).
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || { echo "cloudgate: creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "cloudgate: installing cloudgate and its dependencies into $(VENV) (the first time takes a few minutes)"
	$(BIN)/python -m pip install --disable-pip-version-check -e '.[all,dev]'
	@echo "cloudgate: installed; the command is $(BIN)/cloudgate"
	@touch $(STAMP)

system-deps:
	@bash scripts/system-deps.sh

run: $(STAMP)
	$(BIN)/cloudgate dev $(ARGS)

test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q -n 3 --dist loadscope

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

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
