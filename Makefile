# The two commands a newcomer needs: `make demo` and `make test`. Both bootstrap uv (from PyPI)
# when it is missing and install exactly what uv.lock pins.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
RUN := $(UV) run --frozen

.PHONY: bootstrap demo test check unit integration e2e lint typecheck imports bench bench-parsing clean

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv

bootstrap: $(if $(filter .tools/bin/uv,$(UV)),.tools/bin/uv)
	$(UV) sync --frozen

demo: bootstrap
	$(RUN) featurelake demo $(DEMO_ARGS)

test: bootstrap check
	$(RUN) pytest

check: lint typecheck imports

lint:
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck:
	$(RUN) mypy

imports:
	$(RUN) lint-imports

unit: bootstrap
	$(RUN) pytest tests/unit

integration: bootstrap
	$(RUN) pytest tests/integration

e2e: bootstrap
	$(RUN) pytest tests/e2e

bench: bootstrap
	$(RUN) python bench/training_set.py $(BENCH_ARGS)

bench-parsing: bootstrap
	$(RUN) python bench/raw_parsing.py $(BENCH_ARGS)

clean:
	rm -rf .featurelake .pytest_cache .mypy_cache .ruff_cache
