# One command runs the server, one runs the tests; each creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint migrate seed bench clean web web-check chromium screenshots

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# --- the web app (web/ -> coup/web_dist/, which the Python package ships) ---------------------
# Rebuilt only when its sources change: node_modules follows the lock file (npm ci), the build
# follows the sources, the package files and the Vite/TypeScript config.
WEB_DIST := coup/web_dist
WEB_MODULES := web/node_modules/.installed
WEB_BUILT := $(WEB_DIST)/.built
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) web/index.html \
	web/package.json web/package-lock.json web/vite.config.ts web/tsconfig.json
NODE_CHECK = command -v node >/dev/null 2>&1 && node -e 'process.exit(Number(process.versions.node.split(".")[0]) < 20 ? 1 : 0)' \
	|| { echo "The web app needs Node.js 20 or newer (with npm) to build; install it and run make again." >&2; \
	     echo "Node.js 20 이상(npm 포함)이 있어야 웹 앱을 빌드할 수 있습니다. 설치한 뒤 다시 실행하세요." >&2; exit 1; }

$(WEB_MODULES): web/package.json web/package-lock.json
	@$(NODE_CHECK)
	cd web && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
	touch $@

$(WEB_BUILT): $(WEB_MODULES) $(WEB_SOURCES)
	cd web && npm run build
	touch $@

web: $(WEB_BUILT)  ## build the web app into coup/web_dist (only when its sources changed)

web-check: $(WEB_MODULES)  ## the web app's unit tests, linter and type check
	cd web && npm run lint && npm run typecheck && npm test

# Browser tests drive Debian's Chromium (never a downloaded browser); install it when missing,
# with Korean and emoji fonts so screenshots show the text a person would see.
BROWSER_PACKAGES := chromium fonts-noto-cjk fonts-noto-color-emoji
chromium:
	@{ test -x /usr/bin/chromium && test -d /usr/share/fonts/opentype/noto; } || { [ "$$(id -u)" = 0 ] \
		&& command -v apt-get >/dev/null && (apt-get update -qq \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PACKAGES)) \
		|| echo "Chromium is missing (apt-get install $(BROWSER_PACKAGES)): browser tests will be skipped." >&2; }

screenshots: $(STAMP) $(WEB_BUILT) chromium  ## regenerate every picture in docs/screenshots/ (phone and desktop)
	COUP_SCREENSHOTS=docs/screenshots $(BIN)/pytest -n 0 -q tests/browser/test_screenshots.py \
		tests/browser/test_page_screenshots.py tests/browser/test_room_screenshots.py \
		tests/browser/test_video_call.py::test_two_people_call_share_a_screen_chat_and_meet_the_cap

run: $(STAMP) $(WEB_BUILT)  ## serve on http://127.0.0.1:8000 with SQLite and the in-process bus
	COUP_ALLOWED_ORIGINS=$${COUP_ALLOWED_ORIGINS:-http://127.0.0.1:8000,http://localhost:8000} \
		$(BIN)/coup serve

# One pytest worker per core; each worker runs its own test servers and databases.
PYTEST_ARGS ?= -n auto

test: $(STAMP) $(WEB_BUILT) web-check chromium  ## web checks, then the whole suite (both backends)
	$(BIN)/ruff check coup tests
	$(BIN)/mypy coup
	$(BIN)/pytest $(PYTEST_ARGS) --ignore=tests/browser
	@# A second run: sync Playwright keeps an event loop running in each worker for the whole
	@# session, which would break the asyncio.run() of any other test on that worker. Exit
	@# code 5 (PYTEST_ARGS selected no browser test) is not a failure.
	$(BIN)/pytest $(PYTEST_ARGS) tests/browser || [ $$? = 5 ]

lint: $(STAMP)  ## ruff, then the type checker over coup/ (settings in setup.cfg [mypy])
	$(BIN)/ruff check coup tests
	$(BIN)/mypy coup

migrate: $(STAMP)
	$(BIN)/coup db migrate

seed: $(STAMP)
	$(BIN)/coup db seed

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache $(WEB_DIST) web/node_modules

bench: $(STAMP)  ## the benchmark scenarios side by side with the raw-Tornado ceiling
	$(BIN)/python -m bench.run $(BENCH_ARGS)
