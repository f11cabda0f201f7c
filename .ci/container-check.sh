#!/usr/bin/env bash
# The container path, checked as a user would use it:
#  1. ./run.sh with no terminal builds, tests in the image and serves on a free host port;
#  2. /, /healthcheck and /logo.png answer through the published port (logo byte for byte);
#  3. the visits show in `docker logs`;
#  4. `docker stop` ends the server with exit code 0 within seconds;
#  5. with a failing test, or a type error, ./run.sh stops before serving;
#  6. a clone that grew (a public/ folder in prod.conf, a new module imported by
#     run.ts) serves both through its container;
#  7. under deploy/'s memory limit (256 MiB), rounds of eight 33 MB bodies posted
#     at once are answered (200, 503 or 413) and the container lives on.
# Containers (and the extra image) made here are removed whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
cleanup() {
  docker rm -f cherrypy cherrypy-grown cherrypy-mem >/dev/null 2>&1 || true
  docker rmi -f cherrypy-grown >/dev/null 2>&1 || true
  [ -n "${run_pid:-}" ] && kill "$run_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "container check FAILED: $*" >&2; echo "--- run.sh output:" >&2; tail -40 "$work/run.log" >&2 || true; exit 1; }

port=$(node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })")
echo "container check: ./run.sh on host port $port"
HOST_PORT=$port ./run.sh </dev/null >"$work/run.log" 2>&1 &
run_pid=$!

# Waits for the run.sh started as $run_pid to serve: the build and the in-image tests come
# first, so it is allowed a few minutes.
wait_for_serving() {
  for i in $(seq 1 300); do
    if curl -fsS "http://127.0.0.1:$port/healthcheck" >/dev/null 2>&1; then return 0; fi
    kill -0 "$run_pid" 2>/dev/null || fail "$1: run.sh exited before serving"
    sleep 1
  done
  fail "$1: no answer on /healthcheck after 300 s"
}
wait_for_serving "the checkout"

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

# The request bodies' default room fits the container's memory (config.ts bodyBudget).
docker run -d --name cherrypy-mem --memory 256m --memory-swap 256m -p "127.0.0.1:$port:80" cherrypy >/dev/null
for i in $(seq 1 50); do curl -fsS "http://127.0.0.1:$port/healthcheck" >/dev/null 2>&1 && break; sleep 0.2; done
head -c 33000000 /dev/zero >"$work/body.bin"
for round in 1 2 3; do
  for i in 1 2 3 4 5 6 7 8; do
    curl -s -o /dev/null -w '%{http_code}\n' -X POST -H 'Content-Type: application/octet-stream' \
      --data-binary @"$work/body.bin" "http://127.0.0.1:$port/" >>"$work/codes" &
  done
  wait
done
[ "$(docker inspect -f '{{.State.Running}} {{.State.OOMKilled}}' cherrypy-mem)" = "true false" ] \
  || fail "the container under a 256 MiB limit did not survive eight 33 MB bodies at once: $(docker inspect -f '{{.State.Status}} oom={{.State.OOMKilled}}' cherrypy-mem)"
curl -fsS "http://127.0.0.1:$port/healthcheck" >/dev/null || fail "no health check after the bodies"
grep -qvE '^(200|413|503)$' "$work/codes" && fail "answers to the bodies: $(sort "$work/codes" | uniq -c | tr '\n' ' ')"
echo "container check: 256 MiB limit, 3 rounds of eight 33 MB bodies: $(sort "$work/codes" | uniq -c | tr -s ' \n' ' ')and still serving"
docker rm -f cherrypy-mem >/dev/null

# A clone of the project with one file edited by `sed`: run.sh in it must stop
# before serving, and its output must say why.
#   stops_before_serving NAME FILE SED_EXPRESSION MARK EXPECTED_OUTPUT WHAT
stops_before_serving() {
  local clone="$work/$1"
  cp -r . "$clone" 2>/dev/null || true
  rm -rf "$clone/node_modules"
  sed -i "$3" "$clone/$2"
  grep -q "$4" "$clone/$2" || fail "could not edit $2 for the check ($6)"
  if HOST_PORT=$port "$clone/run.sh" </dev/null >"$work/run.log" 2>&1; then fail "run.sh went on although $6"; fi
  docker container inspect cherrypy >/dev/null 2>&1 && fail "a container was started although $6"
  grep -q "$5" "$work/run.log" || fail "run.sh did not report that $6"
  echo "container check: run.sh stops before serving when $6"
}
stops_before_serving broken test.ts \
  "s|expect(res.body).to.equal('<html><body>scripted landing</body></html>');|expect(res.body).to.equal('broken on purpose');|" \
  "broken on purpose" "failing" "a test fails"
stops_before_serving typo run.ts "s|'server.thread_pool': 100,|'server.thread_poool': 100,|" \
  "thread_poool" "error TS" "run.ts does not type-check"

# A clone that grew as the README says: a static folder and a module of its own.
grown="$work/grown"
cp -r . "$grown" 2>/dev/null || true
rm -rf "$grown/node_modules" "$grown/coverage"
mkdir -p "$grown/public"
echo "static hello" >"$grown/public/hello.txt"
printf '\n[/static]\ntools.staticdir.on = True\ntools.staticdir.dir = "public"\n' >>"$grown/prod.conf"
cat >"$grown/greet.ts" <<'TS'
import * as cherrypy from './cherrypy/index.ts';

export class Greeter {
  @cherrypy.expose
  hello(name = 'world') { return `Hello ${name}`; }
}
TS
sed -i "s|^import \* as cherrypy from './cherrypy/index.ts';|&\nimport { Greeter } from './greet.ts';|; s|^  healthcheck = new HealthCheck();.*|&\n  greet = new Greeter();|" "$grown/run.ts"
grep -q "greet = new Greeter()" "$grown/run.ts" || fail "could not add the module to run.ts for the check"
NAME=cherrypy-grown HOST_PORT=$port "$grown/run.sh" </dev/null >"$work/run.log" 2>&1 &
run_pid=$!
wait_for_serving "the grown clone"
grep -q "open http://localhost:$port/" "$work/run.log" || fail "run.sh did not say which URL to open"
[ "$(curl -fsS "http://127.0.0.1:$port/static/hello.txt")" = "static hello" ] || fail "the grown clone's /static/hello.txt"
[ "$(curl -fsS "http://127.0.0.1:$port/greet/hello/ada")" = "Hello ada" ] || fail "the grown clone's /greet/hello/ada"
docker stop -t 10 cherrypy-grown >/dev/null
wait "$run_pid" || true
run_pid=
echo "container check: a clone with public/ and greet.ts serves both"

docker build -q -t cherrypy . >/dev/null   # leave the good image behind
echo "container check passed"
