# The two commands: `make run` (serve the embedded tier) and `make test` (everything CI runs).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000

# Under CI=true the suite runs a second time against the real self-hosted services.
CI_DATABASE_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
CI_REDIS_URL    ?= redis://127.0.0.1:6379/0

.PHONY: install run test lint imports typecheck unit integration format bench clean api-check

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/minifb db upgrade
	$(BIN)/minifb serve --host $(HOST) --port $(PORT)

test: install lint imports typecheck unit integration

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

# The import boundaries ([tool.importlinter] in pyproject.toml).
imports: install
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -q

integration: install
ifeq ($(CI),true)
	MINIFB_TEST_DATABASE_URL=$(CI_DATABASE_URL) MINIFB_TEST_REDIS_URL=$(CI_REDIS_URL) \
		$(BIN)/pytest -q
# The feed once more, its cache a 3-node Redis Cluster the run starts (ElastiCache cluster mode).
	MINIFB_TEST_DATABASE_URL=$(CI_DATABASE_URL) MINIFB_TEST_REDIS_CLUSTER=1 \
		$(BIN)/pytest -q tests/posts/test_feed.py
else
	@echo "integration pass (PostgreSQL + Redis) runs under CI=true"
endif

format: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# Load test (bench/run.py, docs/performance.md): BENCH_TIERS=embedded,selfhosted picks the tiers.
BENCH_TIERS ?= embedded,selfhosted
bench: install
	BENCH_TIERS=$(BENCH_TIERS) $(BIN)/python bench/run.py

# schemathesis against a live server's /openapi.json (tests/contract/run.py): every
# operation, every check, 100+ examples each; in an environment of its own.
SCHEMATHESIS_VENV  := .venv-schemathesis
SCHEMATHESIS_STAMP := $(SCHEMATHESIS_VENV)/.installed-stamp

$(SCHEMATHESIS_STAMP): requirements/schemathesis.txt
	$(PYTHON) -m venv $(SCHEMATHESIS_VENV)
	$(SCHEMATHESIS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SCHEMATHESIS_VENV)/bin/python -m pip install --quiet --no-deps -r requirements/schemathesis.txt
	$(SCHEMATHESIS_VENV)/bin/python -m pip check
	@touch $(SCHEMATHESIS_STAMP)

api-check: install $(SCHEMATHESIS_STAMP)
	$(BIN)/python tests/contract/run.py

clean:
	rm -rf $(VENV) $(SCHEMATHESIS_VENV) var .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
