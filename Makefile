# ProUIE: every target sets up what it needs (the venv is created by scripts/setup_env.sh when missing).
#   make mini    the whole pipeline on a real small model (SmolLM2-135M-Instruct) and the bundled data (CPU)
#   make smoke   run the whole pipeline on the embedded tiny model and data (CPU, a few minutes)
#   make test    run the test suite (all of it; what CI runs)
#   make test-fast  the tests that need no engine environment, Ray head, real model or full run (<= 3 min)
#   make lint    ruff check
#   make engine ENGINE=easyr1|verl   a GRPO engine's own environment in .engines/<engine>/ (scripts/setup_engine.sh)
#   make engines                     both
#   make mutation  mutation testing of the core modules with their fast tests (hours; MUTATION_ARGS=launch/plan.py ...)
#   make gpu-wheels  the wheels the GPU check carries (.gpu-wheels/), then its plan (scripts/gpu_check.py --plan)
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.prouie-setup-stamp
STUB_FILES := stubs/torchaudio/pyproject.toml $(shell find stubs/torchaudio/torchaudio -name "*.py" 2>/dev/null)

# Subprocesses (llamafactory-cli, torchrun) are found on PATH; tests and smoke runs never reach the HF hub.
export PATH := $(abspath $(VENV))/bin:$(PATH)
export PROUIE_VENV := $(VENV)
export TOKENIZERS_PARALLELISM ?= false

.PHONY: venv mini smoke test test-fast lint mutation tiny-model clean-venv engine engines gpu-wheels

venv: $(STAMP)

# setup_env.sh keeps its own stamp too (it returns at once when nothing changed), so a stale mtime is harmless.
$(STAMP): pyproject.toml scripts/setup_env.sh $(STUB_FILES)
	bash scripts/setup_env.sh

mini: venv
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) launch/run_pipeline.py +experiment=mini

smoke: venv
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) launch/run_pipeline.py +experiment=smoke

test: venv
	$(PY) -m pytest -q $(PYTEST_ARGS)

# tests/conftest.py marks `slow` every test that builds an engine environment, converts the real model or runs the
# whole pipeline; the other slow ones carry the mark themselves.
# Two pytest-xdist workers by default (the fast tests run torch on one thread each: tests/conftest.py), so the tier
# fits its 3 minutes on 2 cores; TEST_WORKERS=0 runs it in one process.
FAST_TESTS := not slow and not ray and not gpu
TEST_WORKERS ?= 2
test-fast: venv
	$(PY) -m pytest -q -n $(TEST_WORKERS) -m "$(FAST_TESTS)" $(PYTEST_ARGS)

lint: venv
	$(PY) -m ruff check .

mutation: venv
	$(PY) benchmarks/mutation.py $(MUTATION_ARGS)

tiny-model: venv
	$(PY) -m launch.models.tiny

clean-venv:
	rm -rf $(VENV)

# The GRPO engines run in environments of their own (they install a module named `verl` and need other
# transformers versions); the script is idempotent like setup_env.sh.  EASYR1_SRC=<checkout> installs EasyR1 from a
# local folder instead of its git repository.
engine:
	@test -n "$(ENGINE)" || { echo "usage: make engine ENGINE=easyr1|verl" >&2; exit 2; }
	bash scripts/setup_engine.sh $(ENGINE)

engines:
	bash scripts/setup_engine.sh easyr1
	bash scripts/setup_engine.sh verl

# The GPU check (README "On a GPU"): download what the GPU machine's Python lacks, for its Python 3.12, into
# .gpu-wheels/ (a few MB), then check sizes, versions and imports here before any device time is spent.
gpu-wheels: venv
	$(PY) scripts/gpu_check.py --download
