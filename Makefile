# The course's two commands:  make lab  (open JupyterLab)  and  make test  (validate everything).
PYTHON ?= python3
PYTEST ?=
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: lab reset copies edit-lessons test lint lessons references bench pythons clean-venv

# Reinstall only when requirements.txt or pyproject.toml changed since the last install.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

# JupyterLab on my-notebooks/, the student's git-ignored copies of notebooks/ (made and completed on each run).
lab: $(STAMP)
	$(BIN)/python -m labsupport.course.launch lab

# make reset NB=03 (one lesson) or make reset (every one): the course's copy again; yours goes to my-notebooks/backups/.
reset: $(STAMP)
	$(BIN)/python -m labsupport.course.launch reset $(NB)

# Your copies: changed by you? updated by the course since?
copies: $(STAMP)
	$(BIN)/python -m labsupport.course.launch status

# For course authors: JupyterLab on the tracked lessons themselves (then make references NB=...).
edit-lessons: $(STAMP)
	$(BIN)/python -m labsupport.course.launch lab --lessons

# ruff first (pinned in requirements.txt, configured in pyproject.toml): a finding fails the run. Then every
# test and every lesson (nbval), in shards side by side, each in a network namespace of its own where the machine
# allows (tests/support/run_tests.py; one after the other where not). make test PYTEST="-x" passes pytest
# options to every shard.
test: $(STAMP)
	$(BIN)/ruff check .
	LAB_HEADLESS=1 $(BIN)/python tests/support/run_tests.py -- $(PYTEST)

lint: $(STAMP)
	$(BIN)/ruff check .

# Only the lessons under nbval, each in a network namespace of its own, side by side where the machine allows
# (one after the other where not), each with its seconds, then the wall time (the budget is 120 s).
# make lessons NB="03 05" runs some of them.
lessons: $(STAMP)
	LAB_HEADLESS=1 $(BIN)/python tests/support/run_lessons.py $(NB)

# After editing a lesson: strip its outputs and re-run it into tests/notebooks/ (the outputs make test checks).
# make references (every lesson), or make references NB=04-health-checks (one).
references: $(STAMP)
	LAB_HEADLESS=1 $(BIN)/python tests/support/references.py $(NB)

# Does requirements.txt resolve on every Python 3.10+ of this machine? (pip install --dry-run; CI runs it too)
pythons:
	$(PYTHON) tests/support/pythons.py

bench: $(STAMP)
	$(BIN)/python benchmarks/fleet_start.py

clean-venv:
	rm -rf $(VENV)
