# The two commands of the README: `make demo` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt requirements-data.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-data.txt
	touch $(STAMP)

# Until the bundled demo model lands, the demo renders a turntable of a randomly initialised
# tiny generator: it proves the pipeline runs, the images are not faces.
demo: setup
	@echo "PanoRig demo: no demo model is bundled yet - rendering a RANDOMLY INITIALISED tiny generator (noise, not a head)."
	$(BIN)/python -m backend sample --checkpoint random:tiny --seeds 0 \
		--yaw 0,45,90,135,180,225,270,315 --out out/demo
	@echo "Turntable frames in out/demo/"

test: setup
	$(BIN)/python -m pytest -q
	$(BIN)/ruff check backend kernels blender_addon build_addon.py tests bench

lint: setup
	$(BIN)/ruff check backend kernels blender_addon build_addon.py tests bench

bench: setup
	$(BIN)/python bench/generator_forward.py

clean:
	rm -rf out dist .pytest_cache
