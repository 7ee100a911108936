# valkey-redis — every command goes through `uv run`; targets set up what they need.
# A fresh clone needs only Python 3.11+, pip, git and make: uv is installed on first use.

SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
RUN := $(UV) run --locked
EX ?=
PORT ?= 6379
CLUSTER_PORT ?= 7000
STAMP := .venv/.synced

.DEFAULT_GOAL := help
.PHONY: help setup have-uv examples test faults failure-modes lint format coverage clean \
        infra-up infra-down infra-status grade next hint watch reset check-exercises grader-audit \
        cluster-up cluster-down cluster-status sentinel-up sentinel-down sentinel-status \
        bench app load

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_%-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  make %-18s %s\n", $$1, $$2}'

# pip's refusals of the first two ways (an externally managed Python says so at length)
# are not shown; only the last attempt's error is, then what to do.
have-uv:
	@$(UV) --version >/dev/null 2>&1 || { \
	  echo "uv not found: installing it with pip (one time)"; \
	  $(PYTHON) -m pip install --quiet uv 2>/dev/null || \
	  $(PYTHON) -m pip install --quiet --user uv 2>/dev/null || \
	  $(PYTHON) -m pip install --quiet --user --break-system-packages uv || { \
	  echo "could not install uv with pip; install pip (apt-get install python3-pip)" \
	    "or uv itself (https://docs.astral.sh/uv/), then run make again" >&2; exit 1; }; }

# All groups: the test suite smoke-tests `make bench`, which needs the peer libraries.
$(STAMP): pyproject.toml uv.lock | have-uv
	$(UV) sync --locked --all-groups
	@touch $@

setup: have-uv ## install uv if missing, then the locked dependencies (all groups)
	$(UV) sync --locked --all-groups
	@touch $(STAMP)

examples: $(STAMP) ## run every example (embedded Valkey when none answers)
	$(RUN) python -m valkey_redis.examples.runner

example-%: $(STAMP) ## run one example, e.g. `make example-1`
	$(RUN) python -m valkey_redis.examples.runner $*

test: $(STAMP) ## run the test suite (fakeredis + real embedded Valkey), without `make faults`
	$(RUN) pytest -m "not faults"

faults: $(STAMP) ## the fault-injection suite: proxy faults, SIGSTOP, kill -9, failovers (< 5 min)
	$(RUN) pytest -m faults tests/faults

failure-modes: $(STAMP) ## time every helper on a hung, dead and slow Valkey (docs/failure-modes.md, ~3 min)
	$(RUN) python -m benchmarks.failure_modes

lint: $(STAMP) ## ruff check, ruff format --check, mypy --strict
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

format: $(STAMP) ## apply ruff's fixes and formatting (formats even when some problems need a hand)
	@$(RUN) ruff check --fix .; fixed=$$?; \
	$(RUN) ruff format . || exit $$?; \
	if [ $$fixed -ne 0 ]; then \
	  echo "Formatted. ruff check could not fix the problems listed above: fix them by hand."; \
	  exit $$fixed; fi

coverage: $(STAMP) ## the test suite under coverage (fails below 90%)
	$(RUN) coverage erase
	$(RUN) coverage run -m pytest
	$(RUN) coverage combine
	$(RUN) coverage report

# `make app PORT=8080`: PORT means the app's port here (8000 unless given), Valkey's for infra-*.
APP_PORT := $(if $(filter command line environment,$(origin PORT)),$(PORT),8000)

app: $(STAMP) ## the capstone web shop on 127.0.0.1:8000 (PORT=, SHOP_RATE_LIMIT=N/S; docs/capstone.md)
	PORT=$(APP_PORT) $(RUN) python -m valkey_redis.shop

load: $(STAMP) ## load-test the shop: six scenarios, ~20 s each (LOAD_SECONDS=, LOAD_USERS=; docs/capstone.md)
	$(RUN) python -m valkey_redis.shop.load

bench: $(STAMP) ## benchmarks vs raw redis-py and peer libraries (a few minutes; docs/benchmarks.md)
	$(RUN) --group bench python -m benchmarks.run

infra-up: $(STAMP) ## start Valkey on 127.0.0.1:6379 in the background
	$(RUN) valkey-redis infra up --port $(PORT)

infra-down: $(STAMP) ## stop the Valkey started by infra-up
	$(RUN) valkey-redis infra down --port $(PORT)

infra-status: $(STAMP) ## is the local Valkey running?
	$(RUN) valkey-redis infra status --port $(PORT)

cluster-up: $(STAMP) ## start a local Valkey Cluster (3 primaries + 3 replicas, 127.0.0.1:7000-7005)
	$(RUN) valkey-redis cluster up --port $(CLUSTER_PORT)

cluster-down: $(STAMP) ## stop the cluster started by cluster-up
	$(RUN) valkey-redis cluster down

cluster-status: $(STAMP) ## nodes, roles and slots of the local cluster
	$(RUN) valkey-redis cluster status --port $(CLUSTER_PORT)

sentinel-up: $(STAMP) ## start a primary (:6390), a replica (:6391) and 3 sentinels (:26390-26392)
	$(RUN) valkey-redis sentinel up

sentinel-down: $(STAMP) ## stop the Sentinel setup started by sentinel-up
	$(RUN) valkey-redis sentinel down

sentinel-status: $(STAMP) ## who is primary, the replicas and the sentinels
	$(RUN) valkey-redis sentinel status

grade: $(STAMP) ## grade your exercises; `make grade EX=N` for one (exit 0 iff all pass)
	$(RUN) valkey-redis grade $(if $(EX),--ex $(EX))

next: $(STAMP) ## grade, and point at the first unsolved exercise (EX=N: start there)
	$(RUN) valkey-redis next $(if $(EX),--ex $(EX))

hint: $(STAMP) ## the next hint for exercise EX: `make hint EX=N` (ALL=1: every hint)
	@$(if $(EX),,echo "which exercise? make hint EX=N (make grade lists them)"; exit 2)
	$(RUN) valkey-redis hint $(EX) $(if $(ALL),--all)

watch: $(STAMP) ## re-grade on every save (all, or EX=N); Ctrl-C stops
	$(RUN) valkey-redis watch $(if $(EX),--ex $(EX))

reset: $(STAMP) ## restore the stub of exercise EX (asks first; FORCE=1 does not)
	@$(if $(EX),,echo "which exercise? make reset EX=N (make grade lists them)"; exit 2)
	$(RUN) valkey-redis reset $(EX) $(if $(FORCE),--yes)

grader-audit: $(STAMP) ## mutation testing of the grader: kill rate per exercise (slow; EX=N, JOBS=2)
	$(RUN) valkey-redis grader-audit $(if $(EX),--ex $(EX)) --jobs $(or $(JOBS),2)

check-exercises: $(STAMP) ## CI: stubs not started, solutions pass (both backends), ruff + mypy
	$(RUN) valkey-redis check-exercises

clean: ## remove caches and build artifacts (keeps .venv)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis htmlcov .coverage .coverage.* \
	  dist build benchmarks/results
	find . -name __pycache__ -type d -prune -not -path './.venv/*' -exec rm -rf {} +
