# edgesign: `make setup`, then `make train convert` on the host, `make deploy PI=user@host`.
PYTHON  ?= python3
DATA    ?= ../shared/data
DATASET ?= sign
PRESET  ?= improved
OUT     ?= artifacts
EPOCHS  ?=
ARGS    ?=

.PHONY: help setup train convert micro test bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 16

setup:  ## install edgesign with the host, device and test extras (editable)
	$(PYTHON) -m pip install -e '.[dev]'

train:  ## train PRESET on DATASET (sign|mnist|folder) from DATA into OUT/train
	edgesign train --data $(DATA) --dataset $(DATASET) --preset $(PRESET) --out $(OUT)/train $(if $(EPOCHS),--epochs $(EPOCHS)) $(ARGS)

convert:  ## quantize OUT/train to int8, report float vs int8, write the bundle to OUT/convert/bundle
	edgesign convert --train-dir $(OUT)/train --data $(DATA) --out $(OUT)/convert $(ARGS)

# Test set for the parity check of `make micro` (whole set), by DATASET; empty: the bundle's self-test images.
MICRO_TEST_sign  = $(DATA)/sign_mnist_test.csv.gz
MICRO_TEST_mnist = $(DATA)/t10k-images-idx3-ubyte.gz
MICRO_TEST ?= $(MICRO_TEST_$(DATASET))

micro:  ## TFLite Micro C++ source (model_data.h/.cc), flash/arena and parity report, from OUT/convert/bundle into OUT/micro
	edgesign micro --bundle $(OUT)/convert/bundle --out $(OUT)/micro $(if $(MICRO_TEST),--test $(MICRO_TEST)) $(ARGS)

test:  ## run the test suite on the real data in DATA
	EDGESIGN_DATA=$(DATA) $(PYTHON) -m pytest

bench:  ## run the benchmarks on the full data (prints tables)
	EDGESIGN_DATA=$(DATA) $(PYTHON) benchmarks/run_all.py

clean:  ## remove artifacts and caches
	rm -rf $(OUT) build dist *.egg-info .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
