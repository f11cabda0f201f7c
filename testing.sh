#!/usr/bin/env bash
# The project's tests, as `npm test` and the image's /testing.sh run them:
#  1. tsc type-checks everything (a misspelt config key fails here, before any test);
#  2. mocha runs test.ts, cherrypy/test/*.test.ts and deploy/*.test.ts under c8, prints the coverage
#     table with the uncovered lines, and fails below 90% of lines or statements.
# Arguments go to mocha and narrow the run: `npm test -- --grep health` or
# `npm test -- test.ts` runs only what was asked, without the coverage gate
# (which only means something for the whole suite).
# In the image the app's files belong to root: COVERAGE_DIR moves the report
# somewhere writable.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"
# The tests expect the test_suite environment, not the production one the image sets.
export NODE_ENV=test

echo "typecheck: tsc --noEmit"
node_modules/.bin/tsc --noEmit

# Did the arguments name test files? Then run those instead of the whole suite.
named_files=false
for arg in "$@"; do
  case "$arg" in -*) continue ;; esac
  if [ -e "$arg" ] || compgen -G "$arg" >/dev/null; then named_files=true; fi
done

if [ "$#" -gt 0 ]; then
  spec=()
  $named_files || spec=(test.ts 'cherrypy/test/*.test.ts' 'deploy/*.test.ts')
  exec node_modules/.bin/mocha "${spec[@]}" "$@"
fi

report="${COVERAGE_DIR:-coverage}"
exec node_modules/.bin/c8 \
  --all --include 'cherrypy/**/*.ts' --include run.ts --exclude 'cherrypy/test/**' \
  --reporter text --report-dir "$report" --temp-directory "$report/tmp" \
  --check-coverage --lines 90 --statements 90 \
  node_modules/.bin/mocha test.ts 'cherrypy/test/*.test.ts' 'deploy/*.test.ts'
