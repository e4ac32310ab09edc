# make demo  — create .venv if missing, install the package, run the demo (report in demo-report/)
# make test  — create .venv if missing, install the package with its test extra, run the tests
# make bench — run the benchmarks (tables printed and written to docs/benchmarks.md)
# make docs  — render the analyses' gallery (quick mode; FORCE=1 reruns) and build the site into site/

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
ARCH   := $(shell uname -m)
# The newest torch/torchvision pair this project is tested with (never ask for a newer one).
ifeq ($(ARCH),aarch64)
TORCH_PIN ?= torch==2.9.1 torchvision==0.24.1
else
TORCH_PIN ?= torch==2.14.1 torchvision==0.29.1
endif
OUT ?= demo-report

.PHONY: demo test test-all bench docs browser clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.stamp-torch: | $(PY)
	$(PIP) install $(TORCH_PIN)
	touch $@

$(VENV)/.stamp-core: pyproject.toml $(VENV)/.stamp-torch
	$(PIP) install -e .
	touch $@

$(VENV)/.stamp-docs: pyproject.toml $(VENV)/.stamp-torch
	$(PIP) install -e '.[docs,rl]'
	touch $@ $(VENV)/.stamp-core

$(VENV)/.stamp-test: pyproject.toml $(VENV)/.stamp-torch
	$(PIP) install -e '.[test]'
	touch $@ $(VENV)/.stamp-core

demo: $(VENV)/.stamp-core
	$(VENV)/bin/neuroperception demo --out $(OUT)

test: $(VENV)/.stamp-test
	$(PY) -m pytest

test-all: $(VENV)/.stamp-test
	$(PY) -m pytest -m "slow or not slow"

# Debian's chromium for the slow browser test of the triplet experiment (skipped without it); needs root.
browser:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium chromium-driver)

# OpenBLAS variables set on some machines slow numpy down; the benchmarks unset them (tests never do).
bench: $(VENV)/.stamp-test
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) benchmarks/run_all.py

# The rl extra is for reward_rl.py (PPO); the gallery folder is analyses/out or
# $(NEUROPERCEPTION_GALLERY_DIR). Warnings are errors in the site build.
docs: $(VENV)/.stamp-docs
	$(PY) docs/hooks/gallery.py $(if $(FORCE),--force)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict -d site

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
