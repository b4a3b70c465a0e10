# edgesign. On a fresh machine: `make all DATA=...` (set up, train, convert) and `make test DATA=...`.
# Everything Python goes into the project's own virtual environment VENV (PEP 668: Debian 12,
# Ubuntu 24.04 and Raspberry Pi OS refuse `pip install` into the system Python).
PYTHON  ?= python3
VENV    ?= .venv
BIN      = $(VENV)/bin
DATA    ?= ../shared/data
DATASET ?= realworld
PRESET  ?= $(if $(filter realworld,$(DATASET)),realworld,improved)
OUT     ?= artifacts
EPOCHS  ?=
ARGS    ?=
SUDO    ?= $(shell [ "$$(id -u)" = 0 ] || echo sudo)
EDGESIGN = $(BIN)/edgesign

.PHONY: help all setup system-deps train convert hand-models micro test test-fast lint bench bench-quick docs clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 16

all: setup  ## set up, then train PRESET on DATASET and convert it: the main job
	$(MAKE) train convert

setup: system-deps $(VENV)/.installed  ## make VENV and install edgesign with every extra into it (editable)

# Reinstalled only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "edgesign needs Python 3.11 to 3.13 (TensorFlow 2.21 with Keras 3.15); $(PYTHON) is $$($(PYTHON) -V 2>&1). Use make PYTHON=python3.12"; exit 2; }
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

# ssh, rsync and sshd for deploy and its tests, g++ for the TFLite Micro source check, the venv
# module (Debian splits it out), Chromium for the live view's test; apt only for what is missing.
SYSTEM_TOOLS = ssh:openssh-client rsync:rsync /usr/sbin/sshd:openssh-server g++:g++ chromium:chromium
system-deps:  ## install the few Debian packages deploy, the tests and the venv need (when missing and apt-get exists)
	@need=""; for t in $(SYSTEM_TOOLS); do command -v "$${t%%:*}" >/dev/null 2>&1 || need="$$need $${t#*:}"; done; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || need="$$need python3-venv"; \
	if [ -n "$$need" ]; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "installing:$$need"; $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$need >/dev/null; \
	  else echo "please install:$$need (deploy and its tests need them)"; fi; \
	fi

# realworld: measured on the photos of other sessions too, when DATA has them.
EVAL_realworld = $(if $(wildcard $(DATA)/asl_photos/test),--eval $(DATA)/asl_photos/test)

train:  ## train PRESET on DATASET (realworld|sign|mnist|folder) from DATA into OUT/train
	$(EDGESIGN) train --data $(DATA) --dataset $(DATASET) --preset $(PRESET) --out $(OUT)/train $(if $(EPOCHS),--epochs $(EPOCHS)) $(ARGS)

convert:  ## quantize OUT/train to int8, report float vs int8, write the bundle to OUT/convert/bundle
	$(EDGESIGN) convert --train-dir $(OUT)/train --out $(OUT)/convert $(EVAL_$(DATASET)) $(ARGS)

hand-models:  ## fetch MediaPipe's palm and hand landmark models (from the mediapipe 0.10.18 wheel on PyPI, hash-checked) into the cache
	$(EDGESIGN) hand-models

# Test set for the parity check of `make micro` (whole set), by DATASET; empty: the bundle's self-test images.
MICRO_TEST_sign  = $(DATA)/sign_mnist_test.csv.gz
MICRO_TEST_mnist = $(DATA)/t10k-images-idx3-ubyte.gz
MICRO_TEST ?= $(MICRO_TEST_$(DATASET))

micro:  ## TFLite Micro C++ source (model_data.h/.cc), flash/arena and parity report, from OUT/convert/bundle into OUT/micro
	$(EDGESIGN) micro --bundle $(OUT)/convert/bundle --out $(OUT)/micro $(if $(MICRO_TEST),--test $(MICRO_TEST)) $(ARGS)

# The suite runs in TEST_WORKERS processes (pytest-xdist), a test file per process at a time (its
# module fixtures are built once), the slowest files first (tests/conftest.py orders them; xdist
# would otherwise hand out the files with the most tests first). Three processes on two cores:
# the deploy, fleet and live-view files spend much of their time waiting on ssh, Ansible and
# sockets, which a third process fills (5:51 in two -> 4:49-5:06 in three, with the faster
# releases and live-view tests; four: 5:06). The arm64 tests are `make
# pi-test`'s: CI runs both.
TEST_WORKERS ?= 3
test: setup  ## set up, then run the whole test suite on the real data in DATA (pi-test: the arm64 part)
	EDGESIGN_DATA=$(DATA) $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder -m "not arm64"

test-fast: setup  ## the tests that need no data folder (about a minute)
	$(BIN)/python -m pytest -m "not data"

lint:  ## ruff: the style the tree keeps
	$(BIN)/python -m ruff check . && $(BIN)/python -m ruff format --check .

bench:  ## run the benchmarks on the full data (prints tables, writes benchmarks/results/*.json)
	EDGESIGN_DATA=$(DATA) $(BIN)/python benchmarks/run_all.py

bench-quick:  ## the same steps on a small slice of DATA, a smoke test (JSON to a temporary folder)
	EDGESIGN_DATA=$(DATA) $(BIN)/python benchmarks/run_all.py --quick

docs:  ## regenerate docs/results.md from benchmarks/results/*.json
	$(BIN)/python benchmarks/results_doc.py

.PHONY: deploy rollback releases pull-data pi-image pi-test deploy-fleet fleet-rollback

# PI=user@host reaches the recipes as an environment variable ("$$PI"), so no value of it can run shell.
deploy:  ## deploy BUNDLE (default OUT/convert/bundle) to PI=user@host over ssh (ARGS='--port 2222 -i KEY --no-service ...')
	$(EDGESIGN) deploy --host="$$PI" --bundle "$${BUNDLE:-$(OUT)/convert/bundle}" $(ARGS)

rollback:  ## switch PI back to its previous release and restart the service
	$(EDGESIGN) rollback --host="$$PI" $(ARGS)

releases:  ## list the releases on PI
	$(EDGESIGN) releases --host="$$PI" $(ARGS)

# INVENTORY is an Ansible inventory (INI or YAML); needs the fleet extra (pip install '.[fleet]').
deploy-fleet:  ## deploy BUNDLE to every Pi in INVENTORY through Ansible, canary first (ARGS='--check --serial 1,20%,100%')
	edgesign deploy --inventory="$$INVENTORY" --bundle "$${BUNDLE:-$(OUT)/convert/bundle}" $(ARGS)

fleet-rollback:  ## switch every Pi in INVENTORY back to its previous release and restart the service
	edgesign rollback --inventory="$$INVENTORY" $(ARGS)

pull-data:  ## copy photos collected on PI (REMOTE=data/collected) into a new folder DEST/<host>-<time>/ (DEST default OUT/collected)
	$(EDGESIGN) pull-data --host="$$PI" --remote-dir "$${REMOTE:-data/collected}" --dest "$${DEST:-$(OUT)/collected}" $(ARGS)

pi-image:  ## build the cached Debian bookworm arm64 userland for pi-test (root, ~10 min once)
	sh deploy/pi_image.sh

pi-test: setup pi-image  ## deploy to the arm64 userland over ssh (qemu-user) and self-test there
	EDGESIGN_DATA=$(DATA) $(BIN)/python -m pytest -m arm64 tests/test_deploy_arm64.py

clean:  ## remove artifacts and caches (not VENV: `rm -rf .venv` for that)
	rm -rf $(OUT) build dist *.egg-info .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
