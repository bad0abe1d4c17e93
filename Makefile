# The course's two commands:  make lab  (open JupyterLab)  and  make test  (validate everything).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: lab test lint lessons references bench clean-venv

# Reinstall only when requirements.txt or pyproject.toml changed since the last install.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

lab: $(STAMP)
	cd notebooks && ../$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 $(if $(filter 0,$(shell id -u)),--allow-root) \
		--LabApp.default_url=/lab/tree/00-welcome.ipynb \
		--ContentsManager.pre_save_hook=labsupport.course.notebook_files.keep_stored_python_version

# ruff first (pinned in requirements.txt, configured in pyproject.toml): a finding fails the run.
test: $(STAMP)
	$(BIN)/ruff check .
	LAB_HEADLESS=1 $(BIN)/python -m pytest tests --nbval-lax --nbval-sanitize-with tests/nbval_sanitize.cfg

lint: $(STAMP)
	$(BIN)/ruff check .

# Only the lessons under nbval, each with the seconds it took (about two minutes; the budget is 120 s).
lessons: $(STAMP)
	LAB_HEADLESS=1 $(BIN)/python -m pytest tests/notebooks --nbval-lax --nbval-sanitize-with tests/nbval_sanitize.cfg

# After editing a lesson: strip its outputs and re-run it into tests/notebooks/ (the outputs make test checks).
# make references (every lesson), or make references NB=04-health-checks (one).
references: $(STAMP)
	LAB_HEADLESS=1 $(BIN)/python tests/support/references.py $(NB)

bench: $(STAMP)
	$(BIN)/python benchmarks/fleet_start.py

clean-venv:
	rm -rf $(VENV)
