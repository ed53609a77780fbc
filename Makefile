# Two commands do all the set-up on a fresh machine:
#   make demo   installs the toolkit and runs `landscape demo` (the main job)
#   make test   installs the toolkit with its test extras and runs the test suite
#
# Both install into the active virtual environment when there is one ($VIRTUAL_ENV: CI's path),
# else into .venv/ here, which the first of them makes with $(PYTHON): a system Python such as
# Debian's refuses `pip install` (PEP 668, "externally managed").
PYTHON ?= python3
ifneq ($(VIRTUAL_ENV),)
VENV ?= $(VIRTUAL_ENV)
else
VENV ?= .venv
endif
BIN = $(VENV)/bin
PIP ?= $(BIN)/python -m pip
OUT ?= demo-out

.PHONY: install install-test demo test lint

# A venv made here and left without its Python (say, python3-venv missing) is removed again,
# so that the next try starts clean; a folder that was there before is never touched.
$(BIN)/python:
	@echo "making a virtual environment in $(VENV)/ with $(PYTHON)"
	@fresh=1; [ -e "$(VENV)" ] && fresh=0; \
	if ! $(PYTHON) -m venv "$(VENV)"; then \
	  [ $$fresh = 1 ] && rm -rf "$(VENV)"; \
	  echo "could not make a virtual environment with $(PYTHON): on Debian or Ubuntu," \
	       "apt-get install python3-venv; or activate a venv of your own and rerun" >&2; \
	  exit 1; \
	fi

install: $(BIN)/python
	@echo "installing torch 2.14.1 and torchvision 0.29.1 into $(VENV)/: 5.7 GB in all" \
	      "(6.4 GB with the test tools), CUDA libraries included even without a GPU;" \
	      "the first time takes minutes"
	$(PIP) install torch==2.14.1 torchvision==0.29.1
	$(PIP) install -e .

# The browser test drives a Chromium: Debian's is installed where we may (root, apt-get);
# elsewhere the test skips and says how to get one.
# The hf extra too: the Hugging Face tests build a tiny model themselves (nothing downloaded).
install-test: install
	$(PIP) install -e ".[test,hf]"
	@if [ -n "$$LANDSCAPE_CHROMIUM" ] || command -v chromium >/dev/null 2>&1 \
	    || command -v chromium-browser >/dev/null 2>&1; then \
	  :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the browser test"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	    >/dev/null; } || echo "could not install chromium: the browser test will skip"; \
	else \
	  echo "no chromium, and not root with apt-get: the browser test will skip" \
	       "(apt-get install chromium as root, or set LANDSCAPE_CHROMIUM to a Chromium binary)"; \
	fi

demo: install
	$(BIN)/landscape demo -o $(OUT)

test: install-test
	$(BIN)/python -m pytest -q

lint:
	$(BIN)/ruff check landscape models cli toolkit tests benchmarks
