# Two self-sufficient targets: `make demo` and `make test`. Both are idempotent.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
FMNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
FONT_PKGS := fonts-dejavu-core fonts-dejavu-extra fonts-freefont-ttf fonts-liberation2
export MLFLOW_DISABLE_TELEMETRY := true
export RAY_USAGE_STATS_ENABLED := 0

.PHONY: demo test install data graphviz lint bench clean

demo: install data graphviz
	$(VENV)/bin/base-dist demo

# Two pytest workers (pytest-xdist): most of a test's wall time is a subprocess or Ray worker importing torch
# (~4 s each), so one worker leaves a core idle. Each worker is one torch thread (tests/conftest.py).
TEST_WORKERS ?= 2
test: install data graphviz
	$(PY) -m pytest -q -n $(TEST_WORKERS) $(PYTEST_ARGS)

install: $(STAMP)

# Reinstall only when pyproject.toml changes. No pip cache: the CUDA build of torch is GBs, and a cached
# copy beside the installed one once filled a CI disk (exit 28, "No space left on device").
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --no-cache-dir --upgrade pip
	$(PY) -m pip install -q --no-cache-dir -e '.[dev,tune,export]'
	touch $(STAMP)

# Fashion-MNIST and the glyph fonts from Debian's packages; digits ships with scikit-learn.
# The glyph sets (base_dist/data/glyphs.py: standard and strong) are rendered once into their cache (seconds).
data:
	@missing=""; \
	if [ ! -f "$(FMNIST)" ] && [ -z "$$BASE_DIST_DATA" ]; then missing="dataset-fashion-mnist"; fi; \
	for f in $(FONT_PKGS); do dpkg -s $$f >/dev/null 2>&1 || missing="$$missing $$f"; done; \
	if [ -z "$$missing" ]; then \
	  echo "data: fashion-mnist and glyph fonts present"; \
	elif [ "$$(id -u)" = "0" ]; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	else \
	  echo "data: missing Debian packages; run: sudo apt-get install $$missing"; exit 2; \
	fi
	@$(PY) -c "from base_dist.data import create_source as s; print('data: glyphs', s('glyphs').num_classes, 'classes,', s('glyphs-hard').num_classes, 'hard')"

# Graphviz's dot draws the cell diagrams (without it they fall back to matplotlib).
graphviz:
	@if command -v dot >/dev/null; then \
	  echo "graphviz: dot present"; \
	elif [ "$$(id -u)" = "0" ]; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q graphviz; \
	else \
	  echo "graphviz: dot is missing (cell diagrams fall back to matplotlib); to install: sudo apt-get install graphviz"; \
	fi

lint: install
	$(VENV)/bin/ruff check base_dist tests benchmarks jobs

bench: install data
	@ls benchmarks/*.py

clean:
	rm -rf $(VENV) runs .pytest_cache
