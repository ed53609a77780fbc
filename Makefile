# Two commands do all the set-up on a fresh machine:
#   make demo   installs the toolkit and runs `landscape demo` (the main job)
#   make test   installs the toolkit with its test extras and runs the test suite
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
OUT ?= demo-out

.PHONY: install install-test demo test lint

install:
	$(PIP) install -q torch==2.14.1 torchvision==0.29.1
	$(PIP) install -q -e .

install-test: install
	$(PIP) install -q -e ".[test]"
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

demo: install
	landscape demo -o $(OUT)

test: install-test
	$(PYTHON) -m pytest -q

lint:
	ruff check landscape models cli tests benchmarks
