# syntax=docker/dockerfile:1
# Ovation app image: one image for the API, the worker and the migrate job
# (docker-compose.yml picks the command). Debian (glibc) rather than Alpine because
# the Temporal worker's native parts (core-bridge, @swc/core) ship glibc builds.
ARG NODE_IMAGE=node:20-bookworm-slim

# --- build: all deps, compile TypeScript to dist/ ---------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Manifests (and the project's npm settings) first, so the dependency layer is
# reused while only sources change.
# patches/: one-line fixes applied to dependencies by patch-package (postinstall).
COPY package.json package-lock.json .npmrc ./
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# --- prod-deps: runtime dependencies only ------------------------------------------
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY patches ./patches
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# --- runtime ------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Files stay root-owned (read-only to the app); the process runs as the image's
# unprivileged `node` user (uid 1000).
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
USER node
EXPOSE 3000
# The API runs API_PROCESSES processes sharing its port (node cluster), by default one per
# core the container sees; set API_PROCESSES=1 when the orchestrator scales by replicas instead.
ENV API_PROCESSES=
# Default role; docker-compose.yml sets the command per service.
CMD ["node", "dist/api/server.js"]
