# Two commands on a fresh machine: `make demo` runs the whole pipeline on the embedded default
# corpus, `make test` runs the tests. Both build .venv with Python 3.10 and the pinned set first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTHON310 ?= $(shell ls -d $$(pyenv root 2>/dev/null)/versions/3.10.*/bin/python3.10 2>/dev/null | tail -n 1)
ifeq ($(strip $(PYTHON310)),)
PYTHON310 := $(shell command -v python3.10)
endif

.PHONY: venv demo test test-unit test-e2e bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: setup.py constraints.txt
	@test -n "$(PYTHON310)" || { echo "Python 3.10 not found: install it with pyenv or put python3.10 on PATH"; exit 1; }
	$(PYTHON310) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip<25" setuptools wheel
	$(PY) -m pip install -q -c constraints.txt -e ".[test]"
	touch $@

demo: venv
	$(VENV)/bin/mbert run

test: venv
	$(PY) -m pytest -q tests

test-unit: venv
	$(PY) -m pytest -q -m "not e2e" tests

test-e2e: venv
	$(PY) -m pytest -q -m e2e tests

clean:
	rm -rf $(VENV) build *.egg-info
