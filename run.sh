#!/usr/bin/env bash
# Build the image, run the tests inside it, then serve the app on port 80.
#   ./run.sh                      build, test, serve on http://localhost/
#   HOST_PORT=8080 ./run.sh       serve on http://localhost:8080/ instead
#   NAME=blog ./run.sh            another image and container name (a second checkout on one engine)
#   ./run.sh node -v              run another command in the image instead of the server
set -euo pipefail
cd "$(dirname "$0")"

name="${NAME:-cherrypy}"    # the article's image tag and container name
host_port="${HOST_PORT:-80}"

# docker kill and rm prevent "name already in use" errors from the last run
docker kill "$name" >/dev/null 2>&1 || true
docker rm "$name" >/dev/null 2>&1 || true

docker build -t "$name" .
# set -e stops here when a test (or the type check) fails: a broken build is never served.
docker run --rm "$name" /testing.sh

# -ti only with a terminal, so the script also works from CI and other scripts.
tty=()
if [ -t 0 ] && [ -t 1 ]; then tty=(-ti); fi
if [ "$#" -eq 0 ]; then
  # The server inside says port 80; this is where it is published on this machine.
  echo "run.sh: open http://localhost:${host_port}/ (docker stop $name ends it)"
fi
exec docker run "${tty[@]}" --name "$name" -p "$host_port:80" "$name" "$@"
