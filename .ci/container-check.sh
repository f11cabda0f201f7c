#!/usr/bin/env bash
# The container path, checked as a user would use it:
#  1. ./run.sh with no terminal builds, tests in the image and serves on a free host port;
#  2. /, /healthcheck and /logo.png answer through the published port (logo byte for byte);
#  3. the visits show in `docker logs`;
#  4. `docker stop` ends the server with exit code 0 within seconds;
#  5. with a failing test, ./run.sh stops before serving.
# Containers named cherrypy are removed whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
cleanup() {
  docker rm -f cherrypy >/dev/null 2>&1 || true
  [ -n "${run_pid:-}" ] && kill "$run_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "container check FAILED: $*" >&2; echo "--- run.sh output:" >&2; tail -40 "$work/run.log" >&2 || true; exit 1; }

port=$(node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })")
echo "container check: ./run.sh on host port $port"
HOST_PORT=$port ./run.sh </dev/null >"$work/run.log" 2>&1 &
run_pid=$!

# Build and in-image tests come first; allow them a few minutes.
for i in $(seq 1 300); do
  if curl -fsS "http://127.0.0.1:$port/healthcheck" >/dev/null 2>&1; then break; fi
  kill -0 "$run_pid" 2>/dev/null || fail "run.sh exited before serving"
  sleep 1
  [ "$i" = 300 ] && fail "no answer on /healthcheck after 300 s"
done
grep -q "passing" "$work/run.log" || fail "the tests did not run in the image"
grep -q "All files" "$work/run.log" || fail "no coverage table from /testing.sh"

body=$(curl -fsS "http://127.0.0.1:$port/")
[ "$body" = "<html><body>scripted landing</body></html>" ] || fail "/ answered: $body"
[ "$(curl -fsS "http://127.0.0.1:$port/healthcheck")" = "Yay<br />" ] || fail "/healthcheck"
[ "$(curl -fsS "http://127.0.0.1:$port/healthcheck/")" = "Yay<br />" ] || fail "/healthcheck/"
curl -fsS -o "$work/logo.png" "http://127.0.0.1:$port/logo.png"
cmp -s "$work/logo.png" logo.png || fail "/logo.png differs from logo.png"
echo "container check: /, /healthcheck, /healthcheck/ and /logo.png OK"

sleep 0.5
docker logs cherrypy 2>/dev/null | grep -q '"GET /logo.png HTTP/1.1" 200' || fail "no access-log line in docker logs"
[ "$(docker inspect -f '{{.Config.User}}' cherrypy)" = "1000" ] || fail "the container does not run as uid 1000"

start=$(date +%s%N)
docker stop -t 10 cherrypy >/dev/null
took=$(( ($(date +%s%N) - start) / 1000000 ))
code=$(docker inspect -f '{{.State.ExitCode}}' cherrypy)
[ "$code" = 0 ] || fail "exit code after docker stop: $code"
[ "$took" -lt 5000 ] || fail "docker stop took $took ms"
wait "$run_pid" || true
run_pid=
echo "container check: docker stop -> exit 0 in $took ms"

# A broken test must stop run.sh before anything is served.
cp -r . "$work/broken" 2>/dev/null || true
rm -rf "$work/broken/node_modules"
sed -i "s|expect(res.body).to.equal('<html><body>scripted landing</body></html>');|expect(res.body).to.equal('broken on purpose');|" "$work/broken/test.ts"
grep -q "broken on purpose" "$work/broken/test.ts" || fail "could not break test.ts for the check"
if HOST_PORT=$port "$work/broken/run.sh" </dev/null >"$work/run.log" 2>&1; then fail "run.sh went on although a test failed"; fi
docker container inspect cherrypy >/dev/null 2>&1 && fail "a container was started although a test failed"
grep -q "failing" "$work/run.log" || fail "the failing test was not reported"
echo "container check: a failing test stops run.sh before serving"
docker build -q -t cherrypy . >/dev/null   # leave the good image behind
echo "container check passed"
