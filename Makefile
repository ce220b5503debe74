# Two entry points: `make app` (set up and open the what-if explorer) and `make test`.
PYTHON ?= $(shell command -v python3.12 || echo python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup app test test-fast bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	SIM_CACHE_DIR=off $(BIN)/python -c "from sim.compiled import warm_up; warm_up()"
	touch $(STAMP)

setup: $(STAMP)

app: $(STAMP)
	$(BIN)/sim app

# The model tests share the two cores; the browser tests then run on their own, so a page
# server, Chromium and the model tests never compete for the cores (timing-sensitive waits).
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q -m "not browser"
	$(BIN)/python -m pytest -q -m browser

test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q -m "not browser and not slow"

bench: $(STAMP)
	$(BIN)/python experiments/bench_model.py

lint: $(STAMP)
	$(BIN)/ruff check sim tests experiments

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
