# Everything a fresh machine needs: Node.js and npm are assumed, Bun is fetched pinned from the npm package.
BUN_VERSION := 1.4.5
TOOLS       := .tools
PINNED_BUN  := $(TOOLS)/node_modules/bun/bin/bun.exe
# A bun already on PATH is used only when it is the pinned version; otherwise the pinned one is installed.
BUN := $(shell command -v bun >/dev/null 2>&1 && [ "$$(bun --version 2>/dev/null)" = "$(BUN_VERSION)" ] && command -v bun || echo $(PINNED_BUN))
# package.json scripts call `bun`: let them find the pinned one (its link in .tools/node_modules/.bin).
export PATH := $(CURDIR)/$(TOOLS)/node_modules/.bin:$(PATH)

BINARY := dist/opportunity-service
# The commit the binary reports with --version; "-dirty" when built from uncommitted changes.
COMMIT := $(shell git describe --always --dirty --abbrev=12 2>/dev/null || echo unknown)
# The console's page and style are bundled into the binary too (src/http/console-bundle.ts).
SOURCES := $(shell find src events projections -name '*.ts' -o -name '*.html' -o -name '*.css' 2>/dev/null) package.json bun.lock

PORT ?= 8080
DB_PATH ?= ./data/opportunities.db

.PHONY: run test build bench compare wrk chromium typecheck deps clean help

help:
	@echo "make run    start the service on $(DB_PATH) with demo data (port $(PORT))"
	@echo "make test   type-check and run every test (unit, store, HTTP, compiled binary), the backend-neutral suites again on PostgreSQL"
	@echo "make build  compile $(BINARY)"
	@echo "make bench  HTTP throughput and latency on SQLite and PostgreSQL (ceiling, per-request, group commit, two instances), rebuild/verify/cold start over 1M events -> docs/BENCHMARKS.md"
	@echo "make compare  two builds or flag sets side by side under the same load: COMPARE='\"$(BINARY)\" \"OTHER_BINARY [FLAGS]\"'"
	@echo "make clean  remove build output and installed tools (not the database)"

# The stamp, not the binary, says the install finished: npm puts a placeholder bun.exe in place before its
# postinstall swaps in the real one, so an interrupted install would otherwise look done to make.
BUN_STAMP := $(TOOLS)/bun-$(BUN_VERSION).installed
$(BUN_STAMP):
	@rm -rf $(TOOLS)/node_modules
	@echo "installing bun $(BUN_VERSION) from npm into $(TOOLS)/"
	@mkdir -p $(TOOLS)
	npm install --prefix $(TOOLS) --no-save --no-audit --no-fund --loglevel=error bun@$(BUN_VERSION)
	@# The package's postinstall puts the platform binary in place; if scripts were skipped, take it directly.
	@if ! $(PINNED_BUN) --version >/dev/null 2>&1; then \
	  cp "$$(ls -d $(TOOLS)/node_modules/@oven/bun-*/bin/bun | head -n1)" $(PINNED_BUN); fi
	@$(PINNED_BUN) --version
	@touch $@

node_modules/.installed: package.json bun.lock | $(if $(filter $(PINNED_BUN),$(BUN)),$(BUN_STAMP))
	$(BUN) install --frozen-lockfile
	@touch $@

deps: node_modules/.installed

run: deps
	$(BUN) run src/main.ts serve --demo --port $(PORT) --db $(DB_PATH)

# The console (src/console) runs in the browser: checked on its own with the DOM's types.
typecheck: deps
	$(BUN) x tsc -p .
	$(BUN) x tsc -p src/console

# The suites that hold for any backend, run a second time on PostgreSQL (test/support/test-backend.ts reads
# TEST_BACKEND). A test in them about SQLite itself is marked sqliteOnly and shows as skipped in that run.
# PostgreSQL: TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres (test/support/postgres.ts).
BACKEND_NEUTRAL_SUITES := test/http test/ops/health.test.ts test/ops/metrics.test.ts test/ops/request-log.test.ts \
  test/reliability/auth-throttle.test.ts test/reliability/group-commit.test.ts test/reliability/idempotency-cap.test.ts \
  test/reliability/idempotency-keys.test.ts test/reliability/optimistic-concurrency.test.ts test/property/hostile-input.test.ts \
  test/audit/history-entries.test.ts test/audit/point-in-time.test.ts test/audit/state-at-store.test.ts test/audit/export-restore.test.ts \
  test/audit/idempotency-verify.test.ts test/audit/restore-validation.test.ts test/audit/large-store.test.ts \
  test/audit/import-lines.test.ts test/audit/python-verifier.test.ts test/audit/batch-key-verify.test.ts

# Test files run in parallel worker processes (each file's databases, ports and temp dirs are its own), three at
# a time, and the SQLite and PostgreSQL passes run at the same time: much of a suite's time is waiting on
# fsyncs, processes and sockets. Four at a time per pass made the heaviest files (a fold over a 1,000-version
# stream, a verification job over a long history) pass their hang guard on two cores. Each pass writes its own
# log, shown whole once both are done. The one test that restarts the whole PostgreSQL server runs alone at the
# end, when nothing else uses it. The per-test timeout is a hang guard, not a speed check.
PG_RESTART_SUITE := test/e2e/postgres-outage.test.ts
# Suites about PostgreSQL alone (they ignore TEST_BACKEND): run in the PostgreSQL pass, which otherwise ends
# well before the SQLite pass, so that the two take about as long.
POSTGRES_ONLY_SUITES := test/storage/postgres-audit.test.ts test/storage/postgres-faults.test.ts \
  test/storage/postgres-instances.test.ts test/storage/postgres-storage.test.ts test/e2e/postgres-audit.test.ts \
  test/e2e/postgres-instances.test.ts
TEST_FLAGS := --timeout=30000 --parallel=3
TEST_LOGS := .test-logs
test: typecheck chromium
	@mkdir -p $(TEST_LOGS)
	@# One binary for every end-to-end file (test/support/binary.ts), built from this tree, removed at the end.
	@e2e=$$(mktemp -d "$${TMPDIR:-/tmp}/opportunity-e2e-XXXXXX"); trap 'rm -rf "$$e2e"' EXIT; \
	echo "building the binary the end-to-end tests share..."; \
	$(BUN) run compile --define 'BUILD_COMMIT_DEFINE="e2e-test"' --outfile "$$e2e/opportunity-service" > $(TEST_LOGS)/build.log 2>&1 \
	  || { cat $(TEST_LOGS)/build.log; exit 1; }; \
	export E2E_BINARY="$$e2e/opportunity-service"; \
	echo "running the SQLite pass (every suite but PostgreSQL's own) and the PostgreSQL pass (backend-neutral and PostgreSQL suites) side by side..."; \
	$(BUN) test $(TEST_FLAGS) $(foreach suite,$(PG_RESTART_SUITE) $(POSTGRES_ONLY_SUITES),--path-ignore-patterns='$(suite)') > $(TEST_LOGS)/sqlite.log 2>&1 & sqlite=$$!; \
	TEST_BACKEND=postgres $(BUN) test $(TEST_FLAGS) $(BACKEND_NEUTRAL_SUITES) $(POSTGRES_ONLY_SUITES) > $(TEST_LOGS)/postgres.log 2>&1 & postgres=$$!; \
	wait $$sqlite; sqlite_status=$$?; wait $$postgres; postgres_status=$$?; \
	echo "===== SQLite pass: every suite but PostgreSQL's own ====="; cat $(TEST_LOGS)/sqlite.log; \
	echo "===== PostgreSQL pass: the backend-neutral suites and PostgreSQL's own ====="; cat $(TEST_LOGS)/postgres.log; \
	echo "SQLite pass exit $$sqlite_status, PostgreSQL pass exit $$postgres_status"; \
	test $$sqlite_status -eq 0 && test $$postgres_status -eq 0 || exit 1; \
	$(BUN) test --timeout=30000 $(PG_RESTART_SUITE)

build: $(BINARY)

# A benchmark, never a test: timings on a shared machine are read as ratios within one run.
# Writes docs/BENCHMARKS.md. wrk comes from Debian's packages, installed here when missing. The PostgreSQL
# modes need the server of TEST_DATABASE_URL (default the machine's, postgres://postgres@127.0.0.1:5432/postgres);
# BENCH_BASELINE=BINARY adds an earlier build's SQLite group commit to the same rounds.
bench: build wrk
	$(BUN) run test/bench/run-all.ts

# Judging one change: test/bench/compare.ts over the commands in COMPARE (its options first, then each
# "BINARY [FLAGS]" quoted), with this tree's binary built and the pinned Bun installed first, as on a fresh clone.
COMPARE ?= "$(BINARY)"
compare: build wrk
	$(BUN) run test/bench/compare.ts $(COMPARE)

wrk:
	@command -v wrk >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }

# The console's browser tests (test/e2e/console-browser.test.ts) drive Debian's Chromium at /usr/bin/chromium;
# a Chinese font (WenQuanYi Micro Hei, 5 MB) makes their screenshots, docs/console.png among them, readable.
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
chromium:
	@test -x /usr/bin/chromium -a -f $(CJK_FONT) || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei; }

$(BINARY): node_modules/.installed $(SOURCES)
	@mkdir -p dist
	$(BUN) run compile --define 'BUILD_COMMIT_DEFINE="$(COMMIT)"' --outfile $(BINARY)
	@ls -l $(BINARY) | awk '{ printf "built %s (%.1f MiB)\n", $$9, $$5 / 1048576 }'

clean:
	rm -rf dist $(TOOLS) node_modules $(TEST_LOGS)
