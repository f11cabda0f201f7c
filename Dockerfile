# The app's image: Node.js LTS (slim), the app and its tests, run as the non-root
# `node` user. Build, test and run it with ./run.sh.
FROM node:24-slim

WORKDIR /app
# production: no tracebacks in error pages. COVERAGE_DIR: /app belongs to root,
# so /testing.sh writes its coverage report to /tmp instead.
ENV NODE_ENV=production COVERAGE_DIR=/tmp/coverage

# Dependencies first: editing the app then reuses this layer. Dev dependencies
# are installed on purpose, so that `docker run cherrypy /testing.sh` can run
# the tests inside the very image that ships.
COPY package.json package-lock.json ./
RUN npm ci --include=dev --no-audit --no-fund && npm cache clean --force

# The whole project, so that any file or folder you add (a module, public/) is
# in the image; .dockerignore keeps out node_modules, .git and local clutter.
COPY . .
# The article runs /testing.sh; it is the project's testing.sh.
RUN ln -s /app/testing.sh /testing.sh

# uid 1000 is the image's `node` user (numeric, so Kubernetes can verify it is not root).
USER 1000
EXPOSE 80
# The slim image has no curl: ask node itself.
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 80) + '/healthcheck').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form, node as PID 1: SIGTERM from `docker stop` reaches the server, which drains and exits 0.
CMD ["node", "--import", "tsx", "run.ts"]
