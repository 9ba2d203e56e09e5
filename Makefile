# inkloop: `make run` serves the app, `make test` runs the whole suite.
# Both create the virtualenv and start the services they need (see webapp/devstack.py).

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-requirements
PYTEST_ARGS ?=
DEMO_DATA ?=
BUDGET ?= small

.PHONY: venv label-studio-venv run test lint migrate bench-recognizer bench-detector bench-loop clean

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

venv: $(STAMP)

# Label Studio lives in its own virtualenv (its pins clash with ours), with a migrated data template.
label-studio-venv: venv
	$(BIN)/python -m labeling.devserver venv

run: venv label-studio-venv
	DEBUG=$${DEBUG:-1} DEMO_DATA="$(DEMO_DATA)" $(BIN)/python -m webapp.devstack run -- \
		$(BIN)/python manage.py runserver 0.0.0.0:8000

# The tests store files in a storage without local paths (webapp/storage.py), as S3 would.
test: venv label-studio-venv
	DEFAULT_FILE_STORAGE=webapp.storage.NoLocalPathStorage \
		$(BIN)/python -m webapp.devstack exec -- $(BIN)/python -m pytest $(PYTEST_ARGS)

# Lint only, never reformats (ruff.toml says what and why).
lint: venv
	$(BIN)/ruff check .

migrate: venv
	$(BIN)/python -m webapp.devstack exec -- $(BIN)/python manage.py migrate

bench-recognizer: venv
	$(BIN)/python bench/recognizer.py

bench-detector: venv
	$(BIN)/python bench/detector.py

# The whole loop through the running stack; BUDGET=tiny|small|full.
bench-loop: venv label-studio-venv
	$(BIN)/python bench/loop.py --budget $(BUDGET)

clean:
	rm -rf .devstack .pytest_cache
