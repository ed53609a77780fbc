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

# The browser test drives a Chromium: Debian's is installed where we may (root, apt-get);
# elsewhere the test skips and says how to get one.
install-test: install
	$(PIP) install -q -e ".[test]"
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
	landscape demo -o $(OUT)

test: install-test
	$(PYTHON) -m pytest -q

lint:
	ruff check landscape models cli toolkit tests benchmarks
