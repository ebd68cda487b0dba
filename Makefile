# djdd: the README's commands, the tests and the benchmarks.
CARGO ?= cargo

.PHONY: deps build test lint bench example deb

deps:
	bash .ci/deps.sh

build:
	$(CARGO) build --release

test: deps
	bash scripts/test.sh

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

example: deps
	bash scripts/example.sh

# djdd itself as a Debian package (target/deb/djdd_VERSION_ARCH.deb), written
# by `djdd pack`, with man pages and completions; lintian must pass.
deb: deps
	bash scripts/make-deb.sh

# Acceptance scenarios in a booted systemd container (root; see docs/acceptance.md),
# every scenario on each Debian suite of SUITES (trixie first: it is Debian
# stable), one suite after the other; ACC_SUITE_JOBS=2 runs them side by side
# (.ci/run does). `make acceptance SCENARIOS="00 01" SUITES=bookworm` runs
# only those, only there.
SUITES ?= trixie bookworm
.PHONY: acceptance acceptance-bases
acceptance: deps
	@bash tests/acceptance/suites.sh "$(SUITES)" $(SCENARIOS)

# The cached container and piuparts bases of each suite of SUITES.
acceptance-bases: deps
	bash tests/acceptance/prepare.sh $(SUITES)

# Times djdd pack against dpkg-deb, nfpm and the raw compressors on a real
# virtualenv tree (cached under /var/cache/djdd/bench), djdd build and
# publish, env builds with pip against uv (bench/env.sh), and upgrades
# under load against the method before the switch (bench/upgrade.sh:
# acceptance scenario 12 twice, in a booted container); writes BENCHMARKS.md.
bench: deps
	bash bench/run.sh
	bash bench/build.sh
	bash bench/env.sh
	bash bench/publish.sh
	bash bench/upgrade.sh
