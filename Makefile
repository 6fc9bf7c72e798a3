# One command per job; each bootstraps .venv on a fresh machine.
#   make lab      students: JupyterLab on the course
#   make demo     instructors: release every assignment and grade synthetic students
#   make test     everything CI checks
#   make hub      a class on this machine: JupyterHub + nbgrader's exchange (as root)
PYTHON ?= python3
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# nbgrader shells out to `alembic`; Jupyter must find this venv's kernel and tools.
export PATH := $(BIN):$(PATH)

.PHONY: lab demo test release execute lint system-deps clean hub hub-proxy

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	# rfc3987-syntax (jupyter-events asks for jsonschema[format-nongpl]) builds a parser when
	# imported: 2.3 s of CPU in every process that imports jsonschema (nbformat: every CLI call,
	# every nbgrader and grading process). Without it jsonschema skips only the "iri" formats.
	$(BIN)/python -m pip uninstall --quiet --yes rfc3987-syntax
	touch $(STAMP)

# Jupyter refuses to run as root unless told (containers, CI machines).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

# JupyterLab 4 on the course, with nbgrader's extension (Validate button, Assignment List,
# Formgrader). For the one local user: no token to paste, hence bound to the loopback interface
# only. nbgrader reads nbgrader_config.py from the working directory, so start in the course.
# LAB_ROOT / LAB_ARGS let the browser tests run this very recipe on a copy of the course
# (LAB_ARGS cannot reopen it to the network: Jupyter refuses a repeated --ServerApp.ip).
LAB_ROOT ?= $(CURDIR)
LAB_ARGS ?=
# Defaults shipped with this environment (JupyterLab reads <prefix>/share/jupyter/lab/settings/
# overrides.json): never pop up "Would you like to get notified about official Jupyter news?".
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json

$(LAB_OVERRIDES): Makefile | $(STAMP)
	mkdir -p $(@D)
	printf '%s\n' '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}' > $@

lab: $(STAMP) $(LAB_OVERRIDES)
	cd "$(LAB_ROOT)" && exec $(BIN)/jupyter lab $(ALLOW_ROOT) \
	  --ServerApp.ip=127.0.0.1 --IdentityProvider.token= \
	  --ServerApp.root_dir="$(LAB_ROOT)" --LabApp.default_url=/lab/tree/release $(LAB_ARGS)

# A class on this machine, as root (`sudo make hub`): hub/setup.sh creates the roster's accounts,
# nbgrader's exchange, the environment every user runs and the instructor's copy of the course,
# then JupyterHub starts with jupyterhub_config.py (read it: it is the whole configuration).
# Settings, e.g. `sudo make hub HUB_PORT=8080`: HUB_ROSTER, HUB_DIR, HUB_HOMES, HUB_PORT, HUB_IP,
# HUB_HOST, HUB_PASSWORD (make hands command-line variables on to the scripts' environment).
PROXY := node_modules/.bin/configurable-http-proxy

hub: $(STAMP) $(LAB_OVERRIDES) $(PROXY)
	bash hub/setup.sh
	exec $(BIN)/jupyterhub -f jupyterhub_config.py

# JupyterHub's proxy, configurable-http-proxy, from the npm registry (versions in package-lock.json).
hub-proxy: $(PROXY)

$(PROXY): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: sudo make system-deps (Debian: nodejs, npm)"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

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

# The authoring gate (`autograder check`, the longest step) runs beside pytest: most tests keep
# one core busy, the gate's two workers take what is left. Niced, so that pytest's serial chain
# (the longer one) is not slowed by it and the gate soaks up the idle core. Its report follows
# pytest's. Workers and kernels die with the gate (PR_SET_PDEATHSIG): the trap stops the tree.
test: $(STAMP) system-deps lint hub-proxy
	@gate_log=$$(mktemp); \
	nice -n 10 $(BIN)/python -m autograder check --no-progress >"$$gate_log" 2>&1 & gate=$$!; \
	trap 'kill $$gate 2>/dev/null; rm -f "$$gate_log"' EXIT INT TERM; \
	echo "python -m autograder check --no-progress: running beside pytest, report below"; \
	$(BIN)/pytest tests source --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg --durations=25; tests=$$?; \
	wait $$gate; checked=$$?; \
	echo "== python -m autograder check --no-progress (exit $$checked) =="; cat "$$gate_log"; \
	test $$tests -eq 0 && test $$checked -eq 0

clean:
	rm -rf .demo .pytest_cache gradebook.db submitted autograded feedback
