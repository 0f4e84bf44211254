# The two commands: `make run` (serve the embedded tier) and `make test` (everything CI runs).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000

# Every dependency, direct and indirect, at an exact version with its hashes
# (docs/decisions/0118). `make lock` writes them; `make install` installs only them.
LOCK         := requirements/dev.lock
RUNTIME_LOCK := requirements/runtime.lock
UV_VERSION   := 0.13.9
UV_COMPILE    = $(BIN)/uv pip compile --quiet --universal --generate-hashes --python-version 3.11 \
	--custom-compile-command 'make lock' $(if $(UPGRADE),--upgrade)

# MINIFB_FULL_PASS=1 (what .ci/run sets; from the environment or `make test
# MINIFB_FULL_PASS=1`, which make passes on to pytest) asks for the second pass
# against the real services (and the API suite a third time, its workers in a
# process of their own), and makes a missing service fail instead of skipping.
FULL_PASS       := $(filter 1 true yes,$(MINIFB_FULL_PASS))
CI_DATABASE_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
CI_REDIS_URL    ?= redis://127.0.0.1:6379/0
CI_AMQP_URL     ?= amqp://guest:guest@127.0.0.1:5672/minifb_ci

.PHONY: install lock run test lint imports typecheck unit integration format bench bench-fanout bench-soak bench-stream bench-media bench-search clean api-check

# A fresh machine: an old or missing Python, or one without its venv module
# (Debian and Ubuntu ship it apart), ends with one line saying what to do.
$(VENV)/pyvenv.cfg:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 || { \
	  found=$$(command -v $(PYTHON) >/dev/null && $(PYTHON) --version 2>&1 | head -n 1); \
	  echo "error: Python 3.11+ is needed, $(PYTHON) is $${found:-not found}; try PYTHON=python3.12 make $(or $(MAKECMDGOALS),install)" >&2; \
	  exit 1; }
	@out=$$($(PYTHON) -m venv $(VENV) 2>&1) || { \
	  rm -rf $(VENV); \
	  case "$$out" in \
	    *ensurepip*) package=$$($(PYTHON) -c 'import sys; print("python3.%d-venv" % sys.version_info[1])'); \
	      echo "error: $(PYTHON) has no venv module; install it (apt install $$package) or try PYTHON=python3.12 make $(or $(MAKECMDGOALS),install)" >&2 ;; \
	    *) echo "error: $(PYTHON) -m venv failed: $$(printf '%s\n' "$$out" | tail -n 1)" >&2 ;; \
	  esac; \
	  exit 1; }

# A changed lock (or project) installs again.
$(STAMP): $(VENV)/pyvenv.cfg $(LOCK) pyproject.toml
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

# Re-resolve after editing pyproject.toml, keeping every other pin; UPGRADE=1 takes
# the newest versions the pins allow. Each requirements/NAME.in of an environment
# of its own is locked to requirements/NAME.lock the same way.
lock: $(VENV)/pyvenv.cfg
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(UV_COMPILE) --extra dev pyproject.toml -o $(LOCK)
	$(UV_COMPILE) --constraint $(LOCK) pyproject.toml -o $(RUNTIME_LOCK)
	@for spec in requirements/*.in; do \
	  [ -e "$$spec" ] || continue; \
	  echo "$(UV_COMPILE) $$spec -o $${spec%.in}.lock"; \
	  $(UV_COMPILE) "$$spec" -o "$${spec%.in}.lock" || exit 1; \
	done

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
ifneq ($(FULL_PASS),)
	MINIFB_TEST_DATABASE_URL=$(CI_DATABASE_URL) MINIFB_TEST_REDIS_URL=$(CI_REDIS_URL) \
		MINIFB_TEST_AMQP_URL=$(CI_AMQP_URL) $(BIN)/pytest -q
# The API suite once more on RabbitMQ, the workers in a process apart from the app's
# (tests/fixtures/workers.py; the other tests are deselected).
	MINIFB_TEST_DATABASE_URL=$(CI_DATABASE_URL) MINIFB_TEST_REDIS_URL=$(CI_REDIS_URL) \
		MINIFB_TEST_AMQP_URL=$(CI_AMQP_URL) MINIFB_TEST_WORKERS=process $(BIN)/pytest -q
# The feed once more, its cache a 3-node Redis Cluster the run starts (ElastiCache cluster mode).
	MINIFB_TEST_DATABASE_URL=$(CI_DATABASE_URL) MINIFB_TEST_REDIS_CLUSTER=1 \
		$(BIN)/pytest -q tests/posts/test_feed.py
# The API against its own document: schemathesis on a live server.
	$(MAKE) --no-print-directory api-check
else
	@echo "the second pass (PostgreSQL, Redis, RabbitMQ, the workers apart, a Redis Cluster, schemathesis) runs with MINIFB_FULL_PASS=1"
endif

format: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# Load tests (docs/performance.md): the feed and posts (bench/run.py; BENCH_TIERS=embedded,selfhosted,broker
# picks the tiers), messages and the stream (bench/stream.py, PostgreSQL + Redis), photo
# uploads beside other requests (bench/media.py), and search on each SQL backend
# (bench/search.py; its databases are kept, seeding 500,000 posts takes minutes).
BENCH_TIERS ?= embedded,selfhosted,broker
BENCH_PG ?= postgresql+asyncpg://postgres@127.0.0.1:5432
bench: install
	BENCH_TIERS=$(BENCH_TIERS) $(BIN)/python bench/run.py
	$(MAKE) --no-print-directory bench-fanout bench-stream bench-media bench-search

# The feed's fan-out alone: one `minifb worker feed` on replayed new posts (bench/fanout.py).
bench-fanout: install
	$(BIN)/python bench/fanout.py

# Ten minutes of mixed load on two servers and a worker (bench/soak.py): p99 and RSS a minute.
bench-soak: install
	$(BIN)/python bench/soak.py

bench-stream: install
	$(BIN)/python bench/stream.py

bench-media: install
	$(BIN)/python bench/media.py

bench-search: install
	MINIFB_AUTH_THROTTLE=off MINIFB_DATABASE_URL=sqlite+aiosqlite:///./var/bench-search/minifb.db \
		$(BIN)/python bench/search.py
	MINIFB_AUTH_THROTTLE=off MINIFB_DATABASE_URL=$(BENCH_PG)/minifb_bench_search \
		$(BIN)/python bench/search.py

# schemathesis against a live server's /openapi.json (tests/contract/run.py): every
# operation, every check, 100+ examples each; in an environment of its own.
SCHEMATHESIS_VENV  := .venv-schemathesis
SCHEMATHESIS_STAMP := $(SCHEMATHESIS_VENV)/.installed-stamp

$(SCHEMATHESIS_STAMP): $(VENV)/pyvenv.cfg requirements/schemathesis.lock
	$(PYTHON) -m venv $(SCHEMATHESIS_VENV)
	$(SCHEMATHESIS_VENV)/bin/python -m pip install --quiet --require-hashes -r requirements/schemathesis.lock
	@touch $(SCHEMATHESIS_STAMP)

api-check: install $(SCHEMATHESIS_STAMP)
	$(BIN)/python tests/contract/run.py

clean:
	rm -rf $(VENV) $(SCHEMATHESIS_VENV) var .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
