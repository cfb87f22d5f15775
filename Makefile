# The two commands of the README:
#   make demo   compare and dedup a few real photos with the default (hash) prism
#   make test   run the whole test suite (and ruff)
# Both create ./.venv and install what they need into it.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PACKAGES := imageprism-core/pyproject.toml imageprism-models/pyproject.toml \
            imageprism-face/pyproject.toml pyproject.toml

.PHONY: demo test lint install clean

$(STAMP): $(PACKAGES)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet \
		-e "./imageprism-core[onnx]" -e ./imageprism-models -e ./imageprism-face -e ".[all,dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python tests/demo_photos.py .demo
	$(BIN)/imageprism compare .demo/photos/coffee.jpg .demo/photos/coffee_q40.jpg
	$(BIN)/imageprism compare .demo/photos/coffee.jpg .demo/photos/astronaut.jpg
	$(BIN)/imageprism dedup .demo/photos --threshold 0.9
	$(BIN)/imageprism plugins

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .demo
