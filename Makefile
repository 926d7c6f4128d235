# Every target builds or refreshes .venv itself, so each works on a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo up test bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,cdk]'
	touch $(STAMP)

demo: $(STAMP)  ## start the local stack, stream one answer live, stop
	$(BIN)/tokencast demo

up: $(STAMP)    ## run the local stack until Ctrl-C
	$(BIN)/tokencast up $(ARGS)

test: $(STAMP)  ## the whole suite: unit, end-to-end on the local stack, infrastructure
	$(BIN)/pytest -q $(ARGS)

bench: $(STAMP)
	$(BIN)/python bench/publish.py $(ARGS)

clean:
	rm -rf $(VENV) cdk.out .pytest_cache
