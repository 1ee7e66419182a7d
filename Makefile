# drkit: the two commands of the README are `make demo` and `make test`.
# Everything they need is built or installed on first use; nothing is installed by hand.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

# cargo builds drkit/native/seal; rustup puts it in ~/.cargo/bin, which a non-login shell may not have
ifeq ($(shell command -v cargo 2>/dev/null),)
ifneq ($(wildcard $(HOME)/.cargo/bin/cargo),)
export PATH := $(HOME)/.cargo/bin:$(PATH)
endif
endif

.PHONY: help venv sysdeps testbin image images-if-root lint test test-unit mutate demo demo-down clean-testbin bench

help:
	@echo "make demo      run drkit's main job on embedded defaults (local repository, local sandbox cluster)"
	@echo "make test      run the whole test suite (builds the pinned test servers on first use)"
	@echo "make lint      ruff, mypy --strict, import-linter"
	@echo "make testbin   build the pinned test servers into .testbin/bin (cached by version)"
	@echo "make image     build drkit's image and the test images into .testbin/images (OCI archives, no Docker)"
	@echo "make bench     run the benchmarks in bench/"
	@echo "make mutate    mutation testing of the data-critical modules (slow; docs/testing.md)"

# The virtualenv is rebuilt when pyproject.toml changes.
$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "drkit needs Python >= 3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip "setuptools>=77" "setuptools-rust>=1.9"
	$(BIN)/pip install --quiet --disable-pip-version-check --config-settings editable_mode=compat -e ".[dev]"
	@touch $@

# drkit's extension modules (drkit/native/_*.c, the Rust crates drkit/native/*/; setup.py), rebuilt in
# place when a source changes (the editable install above builds them once; a changed source would
# otherwise go unbuilt). The crates need cargo (rustup's, or Debian's), and crates.io the first time.
NATIVE_SOURCES := $(wildcard drkit/native/*.c drkit/native/*.h drkit/native/*/Cargo.toml drkit/native/*/Cargo.lock drkit/native/*/src/*.rs)
$(BIN)/.native: $(BIN)/.installed setup.py $(NATIVE_SOURCES)
	$(BIN)/python setup.py --quiet build_ext --inplace
	@touch $@

venv: $(BIN)/.installed $(BIN)/.native

# Debian packages that neither Go modules nor PyPI provide (containerd, runc, CNI plugins, image tools)
sysdeps:
	bash hack/system-deps.sh

testbin: sysdeps
	bash hack/testbin/build.sh

# drkit.local/drkit:dev, drkit.local/testapp:1, drkit.local/pause:1 as OCI archives in .testbin/images
# (root: mmdebstrap and chroot; the Debian base and the drkit layer are cached in ~/.cache/drkit/images)
# etcdutl: this checkout's testbin build (build.py runs `hack/testbin/build.sh etcd` when it is missing)
image: venv sysdeps
	$(BIN)/python hack/image/build.py

# The images for real nodes when this is root (make image needs chroot); otherwise say what that means.
images-if-root:
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory image; \
	else echo "not root: images not built (make image needs root); real-node tests skip, the demo uses kwok nodes"; fi

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy drkit
	$(BIN)/lint-imports
	$(BIN)/pytest -q -p no:cacheprovider tests/unit/test_import_cycles.py

test: venv testbin images-if-root
	$(BIN)/pytest tests $(PYTEST_ARGS)

test-unit: venv
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

# Mutation testing (mutmut, unit tier) of the modules listed in pyproject.toml [tool.mutmut]; writes
# mutants/report.md. MUTATE_MODULES, MUTATE_JOBS, MUTATE_TIMEOUT (seconds per module) bound it.
mutate: venv
	bash hack/mutate.sh

demo: venv testbin images-if-root
	PATH="$(CURDIR)/$(BIN):$$PATH" bash hack/demo.sh

demo-down: venv
	$(BIN)/drkit sandbox down

bench: venv testbin
	bash hack/bench-tools.sh
	$(BIN)/python -m bench --require-all
	$(BIN)/python -m bench.kube_capture
	$(BIN)/python -m bench.etcd_snapshot

clean-testbin:
	rm -rf .testbin
