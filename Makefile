# inkloop: `make run` serves the app, `make test` runs the whole suite.
# Both create the virtualenv and start the services they need (see webapp/devstack.py).

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-requirements
PYTEST_ARGS ?=
DEMO_DATA ?=
BUDGET ?= small

.PHONY: venv label-studio-venv run test lint migrate base-models bench-base-models bench-fewshot bench-recognizer bench-detector bench-loop clean

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

# The base models every new project starts from (ml/base_models): trains on ../shared/data/htr-base
# (resumable: run it again after a kill), then evaluates and ships them. MINUTES=150 on a 2-core CPU;
# DEVICE=cuda on a GPU machine. Debian's handwriting fonts are needed for this target only.
MINUTES ?= 150
DEVICE ?= cpu
BASE_OUT ?= runs/base
BASE_TO ?= ml/base_models
HANDWRITING_FONTS := fonts-ecolier-court fonts-dkg-handwriting fonts-breip fonts-femkeklaver fonts-dancingscript fonts-kristi
base-models: venv
	test -f /usr/share/fonts/truetype/ecolier-court/Ecolier-court.ttf || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(HANDWRITING_FONTS))
	$(BIN)/python -m ml.base train --minutes $(MINUTES) --device $(DEVICE) --out $(BASE_OUT)
	$(BIN)/python -m ml.base ship --out $(BASE_OUT) --to $(BASE_TO)

bench-base-models: venv
	$(BIN)/python bench/base_models.py

bench-fewshot: venv
	$(BIN)/python bench/fewshot.py

bench-recognizer: venv
	$(BIN)/python bench/recognizer.py

bench-detector: venv
	$(BIN)/python bench/detector.py

# The whole loop through the running stack; BUDGET=tiny|small|full.
bench-loop: venv label-studio-venv
	$(BIN)/python bench/loop.py --budget $(BUDGET)

clean:
	rm -rf .devstack .pytest_cache
