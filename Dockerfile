# syntax=docker/dockerfile:1.7
# One image for `flagwright operator` and `flagwright sidecar` (the entrypoint is the CLI; the
# command picks the mode), e.g.
#   docker build -t ghcr.io/flagwright/flagwright:0.1.0 .
#   docker run --rm ghcr.io/flagwright/flagwright:0.1.0 sidecar --help

# Build: full dependency tree, TypeScript compiled by `npm run build` (tsconfig.build.json: src → dist).
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Production dependencies only, without the dev tool chain.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# Runtime: distroless Node 20 (no shell, no package manager), non-root user 65532.
FROM gcr.io/distroless/nodejs20-debian12:nonroot
WORKDIR /app
ENV NODE_ENV=production
# The CLI reads its version from package.json next to dist/.
COPY --from=deps /app/package.json ./package.json
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY crds ./crds
USER 65532:65532
# Operator: /healthz, /readyz, /metrics, Alertmanager webhook; 9443: sidecar injection webhook.
EXPOSE 8080 9443
ENTRYPOINT ["/nodejs/bin/node", "/app/dist/cli/main.js"]
CMD ["--help"]
