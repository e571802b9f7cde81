# The two commands of the README: `make demo` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV := .venv
SOURCES := backend kernels blender_addon build_addon.py tests bench demo
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt requirements-data.txt requirements-face.txt requirements-ray.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -r requirements-ray.txt
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-data.txt -r requirements-face.txt
	touch $(STAMP)

# The main job on the bundled demo model: backend + Blender (bpy) through the add-on's code.
# `make demo CHECKPOINT=path/to/panohead.pkl` runs the same on another checkpoint, and
# `FLAME=path/to/generic_model.pkl` binds your FLAME model instead of the open template.
CHECKPOINT ?= demo
FLAME ?=
demo: setup
	$(BIN)/python demo/make_demo.py --checkpoint $(CHECKPOINT) --flame "$(FLAME)" --out out

# The Blender matrix (tests/test_blender_matrix.py) makes .venv-blender/<version>/, one bpy
# release each (bpy pins numpy), on first use.
test: setup
	$(BIN)/python -m pytest -q
	$(MAKE) --no-print-directory lint

lint: setup
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)

bench: setup
	$(BIN)/python bench/generator_forward.py

clean:
	rm -rf out dist .pytest_cache
