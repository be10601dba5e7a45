#!/usr/bin/env bash
# Make a headless Chromium available for the report test (tests/e2e/test_report_browser.py): Debian's
# chromium package, installed with apt-get when it is missing and this runs as root. Prints
# `export EDGEOPT_REQUIRE_BROWSER=1` when a browser is there (the test then fails rather than skips
# without one), and a note on stderr when none could be had.
set -uo pipefail
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ci-browser: installing Debian's chromium" >&2
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null 2>&1; then
      apt-get update >/dev/null 2>&1 && \
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null 2>&1
    fi
  fi
fi
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  echo "export EDGEOPT_REQUIRE_BROWSER=1"
else
  echo "ci-browser: no chromium; the browser test will skip and say so" >&2
fi
