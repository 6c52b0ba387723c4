# One command for the course, one for the tests (see README.md).
PY      ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
NB_SRC  := $(sort $(wildcard notebooks/[0-9]*.py))
NB_IPYNB := $(NB_SRC:.py=.ipynb)
export COURSE_LIB_DATA ?= $(abspath ../shared/data/pusht/pusht_cchi_v7_replay_lowdim.zarr)
export SDL_VIDEODRIVER := dummy
# Tests draw off screen (Agg). Not exported: a notebook kernel needs its inline backend to show
# figures (make course saves them in the notebooks, make lab shows them).
AGG     := MPLBACKEND=Agg
SHELL   := /bin/bash
#: The browser suite's Chromium: the distribution's package (make browser-deps installs it).
export CHROMIUM ?= $(or $(shell command -v chromium 2>/dev/null),/usr/bin/chromium)
# $(call timed,NAME,COMMAND): run COMMAND, then print its wall-clock and CPU seconds as [stage NAME].
timed = TIMEFORMAT='[stage $(1)] %R s wall, %U s user + %S s system CPU'; time { $(2); }

.PHONY: setup course test lint pytest nbval notebooks lab reproduce bench time-to-score clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) (Python 3.11) on PATH"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	# no byte-compiling of every installed module (a minute on 2 cores): imports compile what they use
	@$(call timed,setup,$(BIN)/pip install -q --no-compile -e .)
	# the kernel's display name is the one in the notebooks' headers, so saving leaves them unchanged
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3" >/dev/null
	touch $(STAMP)

## The main job: run every notebook in order (full mode unless CI/COURSE_FAST is set), writing figures/.
course: notebooks
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=3600 $(NB_IPYNB)

## Every test: the virtual environment and Chromium installed side by side (both mostly wait on
## downloads and disks), lint, then two lanes side by side (the browser suite waits on pages and
## settles and its kernels run one thread, so the library's tests run one thread beside it):
##   - the library's tests (pytest), then one student notebook of make exercises under nbval
##     (tests/test_student_notebooks_flow.py shows that no cell of the others depends on a
##     solution, so they run wherever the solution notebooks run; make nbval-exercises runs all);
##   - every notebook run in JupyterLab and used in headless Chromium (tests/browser): the
##     notebooks' one execution, with the solution checks strict; the book is built from those
##     outputs and checked page by page, the mouse game played. Without Chromium (never in CI)
##     nbval runs the notebooks instead.
test:
	@$(call timed,setup | browser-deps,$(MAKE) --no-print-directory -j2 --output-sync=target \
	    setup browser-deps)
	@$(MAKE) --no-print-directory lint
	@$(call timed,pytest+exercises | notebooks,$(MAKE) --no-print-directory -j2 \
	    --output-sync=target library-lane notebooks-test)

.PHONY: library-lane
library-lane: setup
	@export OMP_NUM_THREADS=1; $(MAKE) --no-print-directory pytest \
	    && $(MAKE) --no-print-directory nbval-exercises STUDENT_NOTEBOOKS=exercises/08_sampling.ipynb

lint: setup
	@$(call timed,lint,$(BIN)/ruff check course_lib tests notebooks benchmarks \
	    && $(BIN)/ruff format --check course_lib tests notebooks benchmarks)

pytest: setup
	@$(call timed,pytest,$(AGG) COURSE_FAST=1 $(BIN)/pytest -q tests --ignore=tests/browser)

## The notebooks under test: in the browser when Chromium is there (always in CI), else nbval.
notebooks-test: setup browser-deps
	@if [ -x "$(CHROMIUM)" ]; then $(MAKE) --no-print-directory browser-test; \
	else echo "*** no Chromium: the notebooks run under nbval, the browser suite is skipped ***"; \
	    $(MAKE) --no-print-directory nbval; fi

## The real-browser suite (JupyterLab + headless Chromium); its screenshots and measured callback
## latencies (latency.md, actions.json) go to $$BROWSER_ARTIFACTS or pytest's temporary folder.
browser-test: setup browser-deps
	@$(call timed,browser,COURSE_FAST=1 $(BIN)/pytest -q -p no:randomly --durations=20 tests/browser)

notebooks: setup
	$(BIN)/jupytext --to ipynb --quiet $(NB_SRC)

nbval: notebooks
	@$(call timed,nbval,$(AGG) COURSE_FAST=1 COURSE_EXERCISES_STRICT=1 \
	    $(BIN)/pytest -q --nbval-lax -p no:randomly $(NB_IPYNB))

.PHONY: exercises nbval-exercises
## Student notebooks in exercises/: each tagged solution cell replaced by a stub (README, Exercises).
exercises: setup
	$(BIN)/python -m course_lib.exercises.generate --out exercises $(NB_SRC)

## The student notebooks run top to bottom; every check reports "not yet".
STUDENT_NOTEBOOKS ?= exercises/*.ipynb
nbval-exercises: exercises
	@$(call timed,exercises,$(AGG) COURSE_FAST=1 OMP_NUM_THREADS=1 \
	    $(BIN)/pytest -q --nbval-lax -p no:randomly $(STUDENT_NOTEBOOKS))

lab: notebooks
	$(BIN)/jupyter lab notebooks/

.PHONY: book browser-deps browser-test notebooks-test
## The executed course as a static site in build/book/html (README as landing page). Notebook
## outputs are cached per mode in build/book/, so a rebuild re-executes only changed notebooks.
## The notebooks read the shipped results from, and write their figures to, a copy of figures/.
book: setup
	rm -rf build/book/figures && mkdir -p build/book && cp -r figures build/book/figures
	COURSE_FIGURES=$(abspath build/book/figures) \
	    $(BIN)/sphinx-build -q -b html book build/book/html
	@echo "the book: build/book/html/index.html"

## Chromium for the browser suite, from the distribution when it is missing (CI runs as root). In
## CI a Chromium that cannot be found or installed fails the build: the suite is never skipped there.
browser-deps:
	@[ -x "$(CHROMIUM)" ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	    && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
	    || true
	@[ -x "$(CHROMIUM)" ] || [ -x "$$(command -v chromium)" ] || { \
	    if [ -n "$$CI" ]; then echo "CI: no Chromium at $(CHROMIUM), and apt-get could not install" \
	        "the chromium package; the browser suite cannot run" >&2; exit 1; fi; \
	    echo "no Chromium (apt-get install chromium): the browser suite is skipped outside CI"; }

reproduce: setup
	$(BIN)/python -m course_lib reproduce

bench: setup
	$(BIN)/python -m course_lib bench

## Train vp, ve-edm and cld-hsm for 2.5, 5 and 10 minutes each and evaluate (about an hour; run alone).
time-to-score: setup
	$(BIN)/python benchmarks/time_to_score.py

clean:
	rm -rf $(VENV) notebooks/*.ipynb exercises .pytest_cache .ruff_cache
