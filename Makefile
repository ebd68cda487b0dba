# djdd: the README's commands, the tests and the benchmarks.
CARGO ?= cargo

.PHONY: deps build test lint bench example deb

deps:
	bash .ci/deps.sh

build:
	$(CARGO) build --release

test: deps
	$(CARGO) test --all-targets

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

example: deps
	bash scripts/example.sh

# djdd itself as a Debian package (target/deb/djdd_VERSION_ARCH.deb), written
# by `djdd pack`, with man pages and completions; lintian must pass.
deb: deps
	bash scripts/make-deb.sh

# Acceptance scenarios in a booted systemd container (root; see docs/acceptance.md).
# `make acceptance SCENARIOS="00 01"` runs only those.
.PHONY: acceptance
acceptance: deps
	bash tests/acceptance/run.sh $(SCENARIOS)

# Times djdd pack against dpkg-deb, nfpm and the raw compressors on a real
# virtualenv tree (cached under /var/cache/djdd/bench) and writes BENCHMARKS.md.
bench: deps
	bash bench/run.sh
	bash bench/build.sh
	bash bench/publish.sh
