# The course's commands. `make help` lists them.
#   make lab     create .venv if missing, install the course, start JupyterLab on notebooks/
#   make test    create .venv if missing, install the course with test dependencies, run every test
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
export PATH := $(abspath $(BIN)):$(PATH)
# pytest-xdist workers for `make test` (CI has 2 cores)
JOBS   ?= 2
ARGS   ?=

.PHONY: help install install-test lab test test-browser classroom notebooks execute labextension bench grade clean

help:
	@echo "Learners:     make lab [ARGS=--no-browser]   start JupyterLab on notebooks/"
	@echo "Maintainers:  make test                      run the whole test suite"
	@echo "              make test-browser              the notebooks in JupyterLab in Chromium (Playwright)"
	@echo "              make notebooks                 regenerate notebooks/ from solutions/ (nbgrader)"
	@echo "              make execute                   re-execute solutions/ in place (stored outputs)"
	@echo "              make bench                     benchmarks: NumPy vs TensorFlow, notebook times"
	@echo "              make labextension              rebuild the 'Check my grade' button (needs Node)"
	@echo "              make install                   create .venv and install the course only"
	@echo "Instructors:  make grade SUBMISSIONS=dir-or-zip OUT=dir [ARGS='--jobs 2']"
	@echo "              make classroom [ARGS='--port 8000 --dir /tmp/dlcourse-classroom']"
	@echo "                                            a JupyterHub classroom on 127.0.0.1 (Ctrl-C stops it)"

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed; run make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# The stamps make `make install` idempotent: pip runs again only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed $(VENV)/.installed-lab
	$(PY) -m pip install --quiet -e ".[test]"
	@touch $@

# JupyterLab's "Check my grade" (dlcourse.lab): the prebuilt front-end extension linked into the venv, and the
# server extension (the warm self-check service) enabled there. A wheel install gets both from its data files.
LABEXT := $(VENV)/share/jupyter/labextensions/dlcourse-lab
$(VENV)/.installed-lab: $(VENV)/.installed src/dlcourse/lab/jupyter_server_config.d/dlcourse.json
	mkdir -p $(dir $(LABEXT)) $(VENV)/etc/jupyter/jupyter_server_config.d
	ln -sfn $(abspath src/dlcourse/lab/labextension) $(LABEXT)
	cp src/dlcourse/lab/jupyter_server_config.d/dlcourse.json $(VENV)/etc/jupyter/jupyter_server_config.d/dlcourse.json
	@touch $@

install: $(VENV)/.installed $(VENV)/.installed-lab

install-test: $(VENV)/.installed-test

# JupyterLab refuses to run as root without --allow-root (containers, Binder-like machines).
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: install
	$(BIN)/jupyter lab --notebook-dir=notebooks $(ROOT_FLAG) $(ARGS)

# need COMMAND PACKAGE: a Debian package the tests need (Linux only). As root it is installed with apt-get (as
# .ci/run does); otherwise make stops at once with the one command to run.
need = [ "$$(uname)" != Linux ] || command -v $(1) >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then apt-get update -qq && apt-get install -y -qq $(2); \
	  else echo "make: $(1) is missing; run: sudo apt-get install $(2)"; exit 2; fi; }

# Unit tests and notebook checks run on $(JOBS) workers; nbval keeps each notebook's cells on one
# worker (--dist loadfile), since they share one kernel.
test: install-test
	@$(call need,bwrap,bubblewrap)
	$(PY) -m pytest -n $(JOBS) tests
	$(PY) -m pytest -n $(JOBS) --dist loadfile --nbval solutions \
	    --nbval-sanitize-with autograde/nbval_sanitize.cfg -p no:cacheprovider

# The learner's path in a real browser (tests/browser): JupyterLab on 127.0.0.1, driven in Debian's
# Chromium (apt-get install chromium; CHROMIUM=/path/to/it to use another) by Playwright. One
# notebook at a time; screenshots go to tests/browser/screenshots/.
CHROMIUM ?=
$(VENV)/.installed-browser: pyproject.toml $(VENV)/.installed-test
	$(PY) -m pip install --quiet -e ".[test,browser]"
	@touch $@

test-browser: browser-deps $(VENV)/.installed-browser $(VENV)/.installed-classroom
	DLCOURSE_BROWSER=1 DLCOURSE_CHROMIUM="$(CHROMIUM)" $(PY) -m pytest -s -p no:cacheprovider tests/browser $(ARGS)

# The classroom: JupyterHub (the `classroom` extra) and its proxy, configurable-http-proxy, from npm into
# classroom/node_modules (the versions of classroom/package-lock.json). Needs Node and npm (Debian:
# apt-get install nodejs npm; .ci/run installs them).
.PHONY: browser-deps
browser-deps:
	@$(call need,bwrap,bubblewrap)
	@$(if $(CHROMIUM),true,$(call need,chromium,chromium))
	@$(call need,node,nodejs)
	@$(call need,npm,npm)

$(VENV)/.installed-classroom: pyproject.toml classroom/package-lock.json $(VENV)/.installed
	@command -v npm >/dev/null || { echo "npm is missing: apt-get install nodejs npm"; exit 2; }
	$(PY) -m pip install --quiet -e ".[classroom]"
	npm ci --prefix classroom --no-audit --no-fund --loglevel=error
	@touch $@

classroom: $(VENV)/.installed-classroom
	$(BIN)/dlcourse classroom $(ARGS)

notebooks: install
	$(BIN)/dlcourse generate

execute: install
	$(BIN)/dlcourse execute

# Rebuild the button's prebuilt extension (committed in src/dlcourse/lab/labextension/) after editing
# labextension/lib/index.js; against this venv's JupyterLab. Needs Node and npm.
labextension: install
	npm ci --prefix labextension --no-audit --no-fund --loglevel=error
	cd labextension && node node_modules/@jupyterlab/builder/lib/build-labextension.js \
	    --core-path "$$($(abspath $(PY)) -c 'import jupyterlab, os; print(os.path.join(os.path.dirname(jupyterlab.__file__), "staging"))')" .
	sha256sum labextension/lib/index.js labextension/package.json > src/dlcourse/lab/labextension/built-from.sha256

bench: install
	$(PY) benchmarks/run.py $(ARGS)

grade: install
	@test -n "$(SUBMISSIONS)" -a -n "$(OUT)" || { echo "usage: make grade SUBMISSIONS=<folder or .zip> OUT=<folder>"; exit 2; }
	$(BIN)/dlcourse grade "$(SUBMISSIONS)" --out "$(OUT)" $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache build src/*.egg-info
