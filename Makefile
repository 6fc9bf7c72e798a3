# One command per job; each bootstraps .venv on a fresh machine.
#   make lab      students: JupyterLab on the course
#   make demo     instructors: release every assignment and grade synthetic students
#   make test     everything CI checks
PYTHON ?= python3
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# nbgrader shells out to `alembic`; Jupyter must find this venv's kernel and tools.
export PATH := $(BIN):$(PATH)

.PHONY: lab demo test release execute lint system-deps clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

# Jupyter refuses to run as root unless told (containers, CI machines).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: $(STAMP)
	$(BIN)/jupyter lab $(ALLOW_ROOT) --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/release

demo: $(STAMP)
	$(BIN)/python -m autograder demo

# Rebuild release/ from source/ (commit the result).
release: $(STAMP)
	$(BIN)/python -m autograder build

# Re-execute the source notebooks in place so their stored outputs are current (nbval compares them).
execute: $(STAMP)
	for nb in source/*/*.ipynb; do \
	  $(BIN)/jupyter nbconvert --log-level=WARN --to notebook --execute --inplace "$$nb" || exit 1; \
	done

lint: $(STAMP)
	$(BIN)/ruff check .

# System packages a fresh Debian machine lacks (installed only when running as root).
system-deps:
	@bash .ci/system-deps

test: $(STAMP) system-deps lint
	$(BIN)/pytest tests source --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg

clean:
	rm -rf .demo .pytest_cache gradebook.db submitted autograded feedback
