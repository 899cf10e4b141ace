# The two commands a newcomer needs: `make demo` and `make test`. Both bootstrap uv (from PyPI)
# when it is missing and install exactly what uv.lock pins.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
RUN := $(UV) run --frozen

.PHONY: bootstrap demo test check unit integration e2e lint typecheck imports security infra-check bench bench-shapes bench-memory bench-parsing bench-idle bench-latency bench-online clean

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv

bootstrap: $(if $(filter .tools/bin/uv,$(UV)),.tools/bin/uv)
	$(UV) sync --frozen

demo: bootstrap
	$(RUN) featurelake demo $(DEMO_ARGS)

# Tests run in TEST_WORKERS pytest-xdist processes, a test file per process at a time (loadfile:
# a module's fixtures start once), each with its own moto S3, Prefect test server, buckets and
# ports. 4 on this 2-core machine: the integration tests wait on servers and automation windows
# about a third of the time (pytest alone: 10.2 min with 2 workers, 9.8 with 3, 9.7 with 4).
TEST_WORKERS ?= 4
PYTEST := $(RUN) pytest -n $(TEST_WORKERS) --dist loadfile

test: bootstrap check
	$(PYTEST)

check: lint typecheck imports security infra-check

lint:
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck:
	$(RUN) mypy

imports:
	$(RUN) lint-imports

# The same bandit gate the feature-repo workflow (infra/ci/github) applies: medium and above.
security:
	$(RUN) bandit -q -r src features flows --severity-level medium --confidence-level medium

# CloudFormation lint (main dev env) and checkov (its own locked env: it pins packages below what
# prefect and mlflow need). Both fail on any finding; suppressions live inline in the templates
# and the Dockerfile, each with a reason (tests/unit/test_infra_templates.py checks that).
# --skip-download: no calls to the Prisma Cloud API (CI has no account and may have no network).
# Two checkov runs: given -d and -f together, checkov 3.3 drops the -f file's failures.
infra-check:
	$(RUN) cfn-lint infra/cloudformation/*.yaml
	$(UV) run --frozen --project infra/scan checkov --quiet --compact --skip-download \
		--framework cloudformation -d infra/cloudformation
	$(UV) run --frozen --project infra/scan checkov --quiet --compact --skip-download \
		--framework dockerfile -f infra/Dockerfile

unit: bootstrap
	$(PYTEST) tests/unit

integration: bootstrap
	$(PYTEST) tests/integration

e2e: bootstrap
	$(RUN) pytest tests/e2e

# Benchmarks (see bench/README.md), each against its baseline in the same run, medians, peak RSS:
# - stages (bench/run.py): feature build, validation, publish, training set: featurelake against
#   polars, DuckDB, pandas, GX, deltalake and Feast, 10M transactions by default (BENCH_ARGS="--rows 1M"
#   is the smoke size). Feast runs in its own locked environment (bench/feast, ~0.5 GB); when it cannot
#   be installed the run goes on without it and the report says why; the training-set shapes (small
#   request / big table, dense string-keyed spine, hourly table over S3 on moto, 1M x 10M) are stages too
#   (`make bench-shapes` runs only them);
# - ingest (bench/raw_parsing.py): raw objects to typed, contract-checked rows, against polars' readers;
# - pipeline (bench/pipeline.py): the real build-features flow, work vs everything around it;
# - incremental (bench/incremental.py): one new day after 180 days of history vs after 10.
# About 45 minutes in all on 2 cores (the shapes ≈ 12–15 of them). bench-memory (memory budget, 30M rows) takes ~15 more.
bench: bootstrap
	$(UV) sync --quiet --frozen --project bench/feast || echo "bench: the Feast environment could not be installed; Feast will be skipped"
	UV=$(UV) $(RUN) python bench/run.py $(BENCH_ARGS)
	$(RUN) python bench/raw_parsing.py
	$(RUN) python bench/pipeline.py
	$(RUN) python bench/incremental.py

# The training-set shapes alone (bench/stages/training_shapes.py): featurelake, DuckDB, polars, pandas and
# Feast on each, cross-checked, medians, peak RSS, files/MiB read. BENCH_ARGS="--rows 1M --shapes-scale 0.1"
# is the smoke size.
SHAPES = training-a10k,training-a100k,training-b-dense,training-b-s3,training-c
bench-shapes: bootstrap
	$(UV) sync --quiet --frozen --project bench/feast || echo "bench: the Feast environment could not be installed; Feast will be skipped"
	UV=$(UV) $(RUN) python bench/run.py --stages $(SHAPES) $(BENCH_ARGS)

bench-memory: bootstrap
	$(RUN) python bench/memory.py

# Online serving (bench/online.py): get_online_features in-process and over HTTP (featurelake serve-features), full
# materialization of the published customer_txn table, against Feast 0.67's DynamoDB (the same moto endpoint) and
# SQLite online stores, and raw boto3 calls (moto's own cost). BENCH_ARGS="--size 500k" is the quick size.
bench-online: bootstrap
	$(UV) sync --quiet --frozen --project bench/feast || echo "bench: the Feast environment could not be installed; Feast will be skipped"
	UV=$(UV) $(RUN) python bench/online.py $(BENCH_ARGS)

bench-parsing: bootstrap
	$(RUN) python bench/raw_parsing.py $(BENCH_ARGS)

# The idle demo stack (bench/idle_stack.py): the demo chain, then --minutes (10) left alone; flow runs
# created, CPU (% of one core) and RSS/PSS of every stack process. ≈ 15 minutes. BENCH_ARGS="--minutes 1".
bench-idle: bootstrap
	$(RUN) python bench/idle_stack.py $(BENCH_ARGS)

# Trigger latency (bench/trigger_latency.py): an event's arrival at the server → the run it triggers
# Running, for ingest, the builds and the retrain, on the local stack with a process worker; medians of
# --samples (5). ≈ 6 minutes. BENCH_ARGS="--samples 1" is the smoke size.
bench-latency: bootstrap
	$(RUN) python bench/trigger_latency.py $(BENCH_ARGS)

clean:
	rm -rf .featurelake .pytest_cache .mypy_cache .ruff_cache
