# Every target sets itself up: a fresh clone needs only python3 (3.11+) and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
COLLECTIONS := build/collections
LINK := $(COLLECTIONS)/ansible_collections/resource_sharing/aws

.PHONY: venv collection dist demo test lint sanity pytest unit integration bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# The repo is the collection; ansible finds it through this link (see ansible.cfg).
collection: $(LINK)

$(LINK):
	mkdir -p $(dir $(LINK))
	ln -sfn ../../../.. $(LINK)

# The tarball users install, and execution-environment.yml copies into the EE build.
dist: venv
	$(BIN)/ansible-galaxy collection build --force --output-path build/dist .

demo: venv collection
	$(BIN)/python scripts/demo

test: lint sanity pytest

# ansible-lint reads .ansible-lint (production profile, offline) and .yamllint.
lint: venv collection
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/ansible-lint --offline -q

sanity: venv
	$(BIN)/python scripts/sanity

pytest: venv collection
	$(BIN)/python -m pytest

unit: venv collection
	$(BIN)/python -m pytest tests/unit

integration: venv collection
	$(BIN)/python -m pytest tests/integration

# The full benchmark (minutes to hours: see docs/benchmarks.md); not part of `make test`.
# Pass flags with BENCH_FLAGS, for example BENCH_FLAGS='--their-images 20'.
bench: venv collection
	$(BIN)/python scripts/bench $(BENCH_FLAGS)

clean:
	rm -rf build .pytest_cache
