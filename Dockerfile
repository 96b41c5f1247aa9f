# git-autosync container image.
#   docker build -t git-autosync:0.1.0 .
# Build stage: dev dependencies and the TypeScript compiler. Runtime stage: dist/ and production
# dependencies only, on a slim Node 20 base with git and the ssh client. test/ship/dockerfile.test.ts
# checks these rules and test/ship/production-tree.test.ts runs the tree this file assembles.

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# No install scripts: none of our dependencies needs one to build, and none should run here.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim AS runtime
# git and ssh do the syncing; coreutils (timeout, head, mktemp, sha256sum) and findutils, already in the base image, run the
# libexec/ helpers; tini is PID 1 so git's and ssh's children are reaped and SIGTERM reaches the
# supervisor. Versions are not pinned: Debian stable only ships security fixes, and a pinned
# version disappears from the mirror when one lands.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git openssh-client tini libnss-wrapper \
 && rm -rf /var/lib/apt/lists/*

# A dedicated user with a UID above the range hosts give to people, so files it writes on a
# hostPath never belong to someone on the node. HOME is writable by group 0 as well: OpenShift
# runs images under an arbitrary UID whose group is 0.
RUN groupadd --gid 10001 git-autosync \
 && useradd --uid 10001 --gid 10001 --home-dir /home/git-autosync --create-home --shell /usr/sbin/nologin git-autosync \
 && chgrp 0 /home/git-autosync \
 && chmod g=u /home/git-autosync

ENV NODE_ENV=production \
    HOME=/home/git-autosync
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only. npm, npx, corepack and yarn are then removed: the daemon never
# runs them, and they are the base image's largest source of advisories to patch.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force \
 && rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack /opt/yarn-* \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /usr/local/bin/yarn /usr/local/bin/yarnpkg
COPY --from=build /src/dist ./dist
COPY --chmod=0755 libexec ./libexec
COPY schema ./schema

# The application files stay owned by root: the daemon cannot modify its own code.
USER 10001:10001
EXPOSE 8080
# No HEALTHCHECK: Kubernetes ignores it, and a fixed one would be wrong under ONE_TIME=true (no
# HTTP server) or another HTTP_BIND. Probe /healthz and /readyz from your orchestrator instead
# (example/docker-compose.yml, example/kubernetes/).
ENTRYPOINT ["tini", "--", "node", "/app/dist/cli.js"]
