#!/usr/bin/env bash
# Runs every test (test.ts and cherrypy/test/*.test.ts) under c8 and prints the
# coverage table with the uncovered lines. Fails when a test fails or when line
# or statement coverage of cherrypy/ and run.ts drops below 90%.
# In the image this is /testing.sh (a link here); COVERAGE_DIR moves the report
# somewhere writable, since the app's files belong to root there.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"
report="${COVERAGE_DIR:-coverage}"
# The tests expect the test_suite environment, not the production one the image sets.
export NODE_ENV=test
exec node_modules/.bin/c8 \
  --all --include 'cherrypy/**/*.ts' --include run.ts --exclude 'cherrypy/test/**' \
  --reporter text --report-dir "$report" --temp-directory "$report/tmp" \
  --check-coverage --lines 90 --statements 90 \
  node_modules/.bin/mocha "$@"
