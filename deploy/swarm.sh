#!/usr/bin/env bash
# Run the app as a Docker Swarm stack: replicas behind haproxy (stack.yml).
#   deploy/swarm.sh up        build both images, start a single-node swarm if none
#                             is active, deploy; the balancer answers on LB_PORT (8080)
#   deploy/swarm.sh update    rebuild the app's image and roll it out, one replica at a time
#   deploy/swarm.sh down      remove the stack; leave the swarm only if `up` started it
# Settings (environment): STACK (cherrypy), LB_PORT (8080), REPLICAS (3).
set -euo pipefail
cd "$(dirname "$0")/.."

stack="${STACK:-cherrypy}"
export LB_PORT="${LB_PORT:-8080}"
state_dir="${XDG_STATE_HOME:-$HOME/.local/state}/cherrypy-swarm"
joined_marker="$state_dir/$stack.swarm-started-here"

build() {
  # A new tag per build, so that `update` rolls out a new image, not the same one again.
  local tag
  tag="$(date +%Y%m%d%H%M%S)"
  docker build -q -t "cherrypy:$tag" -t cherrypy:latest . >/dev/null
  docker build -q -t cherrypy-lb:latest deploy/lb >/dev/null
  export APP_IMAGE="cherrypy:$tag" LB_IMAGE=cherrypy-lb:latest
  echo "swarm.sh: built $APP_IMAGE and $LB_IMAGE"
}

wait_ready() {
  local want="${REPLICAS:-3}"
  for _ in $(seq 1 120); do
    local running
    running=$(docker service ps "${stack}_app" --filter desired-state=running --format '{{.CurrentState}}' 2>/dev/null | grep -c '^Running' || true)
    if [ "$running" -ge "$want" ] && curl -fsS "http://127.0.0.1:$LB_PORT/healthcheck" >/dev/null 2>&1; then
      echo "swarm.sh: $running replicas running; http://localhost:$LB_PORT/"
      return 0
    fi
    sleep 1
  done
  echo "swarm.sh: the stack did not become ready in 120 s" >&2
  docker service ps --no-trunc "${stack}_app" >&2 || true
  return 1
}

case "${1:-}" in
  up)
    build
    if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
      docker swarm init --advertise-addr 127.0.0.1 >/dev/null
      mkdir -p "$state_dir" && touch "$joined_marker"
      echo "swarm.sh: started a single-node swarm"
    fi
    # Local images only: never ask a registry for them.
    docker stack deploy --resolve-image never -c deploy/stack.yml "$stack" >/dev/null
    if [ -n "${REPLICAS:-}" ]; then docker service scale -d "${stack}_app=$REPLICAS" >/dev/null; fi
    wait_ready
    ;;
  update)
    build
    docker service update --quiet --detach=false --image "$APP_IMAGE" "${stack}_app" >/dev/null
    echo "swarm.sh: rolled out $APP_IMAGE"
    ;;
  down)
    docker stack rm "$stack" >/dev/null 2>&1 || true
    # Wait until the stack's containers and network are gone (Swarm removes them a little
    # later), so that a new `up` does not race them and nothing is left behind.
    for _ in $(seq 1 60); do
      if [ -z "$(docker ps -aq --filter "label=com.docker.stack.namespace=$stack")" ] &&
        ! docker network ls --format '{{.Name}}' | grep -q "^${stack}_"; then break; fi
      sleep 1
    done
    if [ -f "$joined_marker" ]; then
      docker swarm leave --force >/dev/null
      rm -f "$joined_marker"
      echo "swarm.sh: left the swarm it had started"
    fi
    echo "swarm.sh: stack $stack removed"
    ;;
  *)
    echo "usage: deploy/swarm.sh up|update|down" >&2
    exit 2
    ;;
esac
