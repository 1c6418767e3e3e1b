# The two Quick start commands are `make demo` and `make test`; both set everything up first.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .uv/bin/uv
VENV := .venv
BIN := $(VENV)/bin
# llama-cpp-python builds from source once (about 5 minutes on 2 cores), then uv's cache has it.
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2
export UV_PYTHON := $(PYTHON)

.PHONY: setup demo test lint bench lock clean system-packages

setup: $(VENV)/.synced tools/aider/.venv/.synced

# PostgreSQL: the store's tests and `make bench` start their own server in a temp dir (not Debian's cluster);
# docker.io: the claude-docker agent's tests start their own dockerd the same way (overseer.testing.docker).
# chromium, tesseract-ocr: `overseer serve`'s page is loaded in headless Chromium and its screenshot OCR'd.
# openssh-server: the SSH host's tests start their own sshd on loopback (overseer.testing.ssh).
system-packages:
	@command -v git >/dev/null && command -v cmake >/dev/null && command -v g++ >/dev/null && \
		command -v bwrap >/dev/null && command -v socat >/dev/null && command -v dockerd >/dev/null && \
		command -v chromium >/dev/null && command -v tesseract >/dev/null && test -x /usr/sbin/sshd && \
		compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || \
		{ apt-get update && apt-get install -y --no-install-recommends git cmake g++ make bubblewrap socat postgresql docker.io chromium tesseract-ocr openssh-server; }

$(UV): | system-packages
	$(PYTHON) -m venv .uv
	.uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Bytecode is compiled at install: where PYTHONDONTWRITEBYTECODE is set (these machines set it), every
# `overseer` start would otherwise compile its dependencies again (about 6 s of a 12 s `overseer do`).
$(VENV)/.synced: uv.lock pyproject.toml $(UV)
	$(UV) sync --frozen --compile-bytecode
	$(BIN)/python -m compileall -q src
	touch $@

# Aider (agent.name: aider) in a tool environment of its own, so its pins never meet overseer's (about
# 21 s from an empty uv cache, 110 packages; the bytecode saves 2.5 s at every aider start).
tools/aider/.venv/.synced: tools/aider/uv.lock tools/aider/pyproject.toml $(UV)
	$(UV) sync --frozen --compile-bytecode --project tools/aider
	touch $@

demo: setup
	$(BIN)/overseer demo

# --cov by path, not by module name: Alembic loads the migrations under names of its own.
# Two workers: most of an end-to-end test is waiting on the CLI, git and pytest (13.7 -> 10.2 min here);
# each worker starts its own PostgreSQL cluster and llama.cpp server (about 2 s each).
test: setup lint
	$(BIN)/pytest -n 2 --dist worksteal --cov=src/overseer --cov-report=term:skip-covered -q
	$(BIN)/coverage report --include='src/overseer/state/*' --skip-covered --fail-under=95

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: setup
	$(BIN)/python bench/run.py
	$(BIN)/python bench/llm.py
	$(BIN)/python bench/sandbox.py
	$(BIN)/python bench/store.py

lock: $(UV)
	$(UV) lock
	$(UV) lock --project tools/aider

clean:
	rm -rf .uv $(VENV) tools/aider/.venv .pytest_cache .mypy_cache .ruff_cache .coverage

# SupervisionBench (bench/supervision): about 30 HumanEval problems, every kind of outcome, under 15 minutes;
# `make bench-supervision ARGS=--full` runs all 164, `ARGS=--fit` also refits the packaged calibration.
.PHONY: bench-supervision
bench-supervision: setup
	$(BIN)/python -m bench.supervision $(ARGS)
