# edgesign. On a fresh machine: `make all DATA=...` (set up, train, convert) and `make test DATA=...`.
PYTHON  ?= python3
DATA    ?= ../shared/data
DATASET ?= sign
PRESET  ?= improved
OUT     ?= artifacts
EPOCHS  ?=
ARGS    ?=
SUDO    ?= $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help all setup system-deps train convert micro test bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 16

all: setup  ## set up, then train PRESET on DATASET and convert it: the main job
	$(MAKE) train convert

setup: system-deps  ## install edgesign with the host, device, micro and test extras (editable)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e '.[dev]'

# ssh, rsync and sshd for deploy and its tests, g++ for the TFLite Micro source check; apt only if missing.
SYSTEM_TOOLS = ssh:openssh-client rsync:rsync /usr/sbin/sshd:openssh-server g++:g++
system-deps:  ## install the few Debian packages deploy and the tests use (when missing and apt-get exists)
	@need=""; for t in $(SYSTEM_TOOLS); do command -v "$${t%%:*}" >/dev/null 2>&1 || need="$$need $${t#*:}"; done; \
	if [ -n "$$need" ]; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "installing:$$need"; $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$need >/dev/null; \
	  else echo "please install:$$need (deploy and its tests need them)"; fi; \
	fi

train:  ## train PRESET on DATASET (sign|mnist|folder) from DATA into OUT/train
	edgesign train --data $(DATA) --dataset $(DATASET) --preset $(PRESET) --out $(OUT)/train $(if $(EPOCHS),--epochs $(EPOCHS)) $(ARGS)

convert:  ## quantize OUT/train to int8, report float vs int8, write the bundle to OUT/convert/bundle
	edgesign convert --train-dir $(OUT)/train --out $(OUT)/convert $(ARGS)

# Test set for the parity check of `make micro` (whole set), by DATASET; empty: the bundle's self-test images.
MICRO_TEST_sign  = $(DATA)/sign_mnist_test.csv.gz
MICRO_TEST_mnist = $(DATA)/t10k-images-idx3-ubyte.gz
MICRO_TEST ?= $(MICRO_TEST_$(DATASET))

micro:  ## TFLite Micro C++ source (model_data.h/.cc), flash/arena and parity report, from OUT/convert/bundle into OUT/micro
	edgesign micro --bundle $(OUT)/convert/bundle --out $(OUT)/micro $(if $(MICRO_TEST),--test $(MICRO_TEST)) $(ARGS)

test: setup  ## set up, then run the test suite on the real data in DATA
	EDGESIGN_DATA=$(DATA) $(PYTHON) -m pytest

bench:  ## run the benchmarks on the full data (prints tables)
	EDGESIGN_DATA=$(DATA) $(PYTHON) benchmarks/run_all.py

.PHONY: deploy rollback releases pull-data pi-image pi-test deploy-fleet fleet-rollback

# PI=user@host reaches the recipes as an environment variable ("$$PI"), so no value of it can run shell.
deploy:  ## deploy BUNDLE (default OUT/convert/bundle) to PI=user@host over ssh (ARGS='--port 2222 -i KEY --no-service ...')
	edgesign deploy --host="$$PI" --bundle "$${BUNDLE:-$(OUT)/convert/bundle}" $(ARGS)

rollback:  ## switch PI back to its previous release and restart the service
	edgesign rollback --host="$$PI" $(ARGS)

releases:  ## list the releases on PI
	edgesign releases --host="$$PI" $(ARGS)

# INVENTORY is an Ansible inventory (INI or YAML); needs the fleet extra (pip install '.[fleet]').
deploy-fleet:  ## deploy BUNDLE to every Pi in INVENTORY through Ansible, canary first (ARGS='--check --serial 1,20%,100%')
	edgesign deploy --inventory="$$INVENTORY" --bundle "$${BUNDLE:-$(OUT)/convert/bundle}" $(ARGS)

fleet-rollback:  ## switch every Pi in INVENTORY back to its previous release and restart the service
	edgesign rollback --inventory="$$INVENTORY" $(ARGS)

pull-data:  ## copy photos collected on PI (REMOTE=data/collected) into DEST (default OUT/collected)
	edgesign pull-data --host="$$PI" --remote-dir "$${REMOTE:-data/collected}" --dest "$${DEST:-$(OUT)/collected}" $(ARGS)

pi-image:  ## build the cached Debian bookworm arm64 userland for pi-test (root, ~10 min once)
	sh deploy/pi_image.sh

pi-test: pi-image  ## deploy to the arm64 userland over ssh (qemu-user) and self-test there
	EDGESIGN_DATA=$(DATA) $(PYTHON) -m pytest -m arm64 tests/test_deploy_arm64.py

clean:  ## remove artifacts and caches
	rm -rf $(OUT) build dist *.egg-info .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
