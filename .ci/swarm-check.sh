#!/usr/bin/env bash
# Replicas behind haproxy lose no request, proven on a real Swarm:
#  deploy the stack (deploy/swarm.sh up, 3 replicas), then, each step under its
#  own load on the balancer (autocannon), count the failures:
#   1. roll every replica to a new image (docker service update --force);
#   2. scale to 5;   3. scale back to 2;
#   4. SIGTERM straight to one replica's container (docker kill --signal TERM),
#      the way Kubernetes signals a pod that endpoints may still route to.
#  Holds when every replica was replaced in step 1 and each step saw 0 errors,
#  0 time-outs and 0 non-2xx answers. The stack is removed whatever happens, and
#  the swarm left only if swarm.sh started it.
set -euo pipefail
cd "$(dirname "$0")/.."

export STACK=cicheck
LB_PORT=$(node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })")
export LB_PORT
service="${STACK}_app"
work=$(mktemp -d)
failed=0

cleanup() {
  [ -n "${load_pid:-}" ] && kill "$load_pid" 2>/dev/null || true
  deploy/swarm.sh down || true
  # The per-build tags swarm.sh made; cherrypy:latest stays.
  docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '^cherrypy:[0-9]{14}$' | xargs -r docker rmi >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

running_tasks() { docker service ps -q --filter desired-state=running "$service" | sort; }

# Runs `step` (a command) while autocannon loads the balancer for `seconds`; prints and checks the counts.
under_load() {
  local name=$1 seconds=$2; shift 2
  node_modules/.bin/autocannon -j -c 10 -d "$seconds" "http://127.0.0.1:$LB_PORT/" >"$work/load.json" 2>/dev/null &
  load_pid=$!
  sleep 1
  "$@"
  wait "$load_pid"
  load_pid=
  node -e '
    const r = require(process.argv[1]);
    const bad = r.errors + r.timeouts + r.non2xx;
    console.log(`swarm check: ${process.argv[2]}: ${r.requests.total} requests, ${r.errors} errors, ${r.timeouts} time-outs, ${r.non2xx} non-2xx, p99 ${r.latency.p99} ms, max ${r.latency.max} ms`);
    process.exit(bad === 0 && r.requests.total > 0 ? 0 : 1);
  ' "$work/load.json" "$name" || failed=1
}

roll() {
  running_tasks >"$work/before"
  docker service update --quiet --detach=false --force "$service" >/dev/null
  running_tasks >"$work/after"
  if [ -n "$(comm -12 "$work/before" "$work/after")" ] || [ "$(wc -l <"$work/after")" -ne 3 ]; then
    echo "swarm check FAILED: not every replica was replaced by the roll" >&2
    failed=1
  fi
}

scale() { docker service scale --detach=false "$service=$1" >/dev/null 2>&1; sleep 3; }

term_one() {
  local cid
  cid=$(docker ps -q --filter "label=com.docker.swarm.service.name=$service" | head -1)
  docker kill --signal TERM "$cid" >/dev/null
  # The replica drains and exits; Swarm starts a new task in its place.
  for _ in $(seq 1 30); do
    [ "$(docker inspect -f '{{.State.Running}}' "$cid")" = false ] && break
    sleep 0.5
  done
  local code
  code=$(docker inspect -f '{{.State.ExitCode}}' "$cid")
  [ "$code" = 0 ] || { echo "swarm check FAILED: the signalled replica exited $code" >&2; failed=1; }
  sleep 6
}

echo "swarm check: deploying stack $STACK, balancer on port $LB_PORT"
deploy/swarm.sh up
under_load "roll 3 replicas to a new image" 45 roll
under_load "scale 3 -> 5" 15 scale 5
under_load "scale 5 -> 2" 15 scale 2
under_load "SIGTERM to one replica" 15 term_one

[ "$failed" = 0 ] || { echo "swarm check FAILED" >&2; docker service logs --tail 20 "${STACK}_lb" >&2 || true; exit 1; }
echo "swarm check passed"
