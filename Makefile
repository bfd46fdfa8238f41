# Two commands for everyone: `make lab` (set up + open the course) and `make test`.
# Everything installs into ./.venv from this repository's own files.

PYTHON      ?= python3
VENV        ?= .venv
PY          := $(VENV)/bin/python
# The tested PyTorch release. Learners may pick another build, e.g. for a GPU:
#   make lab TORCH_INDEX="--index-url https://download.pytorch.org/whl/cu128"
TORCH_SPEC  ?= torch==2.13.0
TORCH_INDEX ?=
STAMP       := $(VENV)/.setup-stamp
LAB_ARGS    ?=
# Jupyter refuses to start as root (containers, cloud VMs) unless told it is fine.
LAB_ROOT    := $(if $(filter 0,$(shell id -u)),--allow-root,)
PYTEST_ARGS ?=
# The Jupyter kernel every notebook names in its metadata: this environment's Python.
KERNEL      := rnn-course
REGISTER_KERNEL = $(PY) -m ipykernel install --name $(KERNEL) --display-name "Python (rnn-course)" > /dev/null
# JupyterLab defaults for the course (no news prompt, no update check: it runs offline).
LAB_DEFAULTS := $(VENV)/share/jupyter/lab/settings/overrides.json

# Offline machines with the course's data mirror beside the clone use it automatically.
ifeq ($(origin COURSE_DATA_MIRROR), undefined)
  ifneq ($(wildcard ../shared/data/checksums.sha256),)
    export COURSE_DATA_MIRROR := $(abspath ../shared/data)
  endif
endif

# Is this machine ready? Python, torch build, device, Jupyter kernel, datasets, disk space.
doctor: setup
	$(PY) -m course_utils doctor

.PHONY: setup lab kernel doctor test lint format clean exercises check-exercises

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)" $(TORCH_INDEX)
	$(PY) -m pip install --quiet -e ".[dev,book]"
	$(PY) -c "import torch, spacy, course_utils; print('course ready: torch', torch.__version__)"
	$(REGISTER_KERNEL) --sys-prefix
	touch $(STAMP)

setup: $(STAMP)

lab: setup
	install -D -m 644 jupyter/overrides.json $(LAB_DEFAULTS)
	$(REGISTER_KERNEL) --sys-prefix
	$(VENV)/bin/jupyter lab $(LAB_ROOT) $(LAB_ARGS)

# Register the rnn-course kernel for your user too, so a Jupyter outside .venv can run the notebooks.
kernel: setup
	$(REGISTER_KERNEL) --user
	@echo "registered the $(KERNEL) kernel for $(USER): it runs $(abspath $(PY))"

# Unit tests plus every notebook run top to bottom in smoke mode (tiny data, one short epoch).
test: setup
	COURSE_MODE=smoke $(PY) -m pytest --nbval-lax --nbval-current-env $(PYTEST_ARGS)

# Regenerate exercises/ from solutions/ (answers become stubs with hints; outputs cleared).
exercises: setup
	$(PY) scripts/exercises.py build

# Fail when exercises/ is not what `make exercises` would write (tests/test_exercises.py checks it too).
check-exercises: setup
	$(PY) scripts/exercises.py check

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The course as a static website from the committed notebooks (never run): open
# book/_build/html/index.html, also offline (docs/website.md).
BOOK_BUILD ?= book/_build
book: setup
	$(PY) book/build_site.py --build-dir $(BOOK_BUILD)

# Debian packages the tests need, installed when missing: Chromium for the browser tests
# (Playwright cannot download its own browser offline) and PostgreSQL for the shared-study test.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
system-packages:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

.PHONY: book system-packages

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
