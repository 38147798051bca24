# syntax=docker/dockerfile:1.7
# One image for `flagwright operator` and `flagwright sidecar` (the entrypoint is the CLI; the
# command picks the mode), e.g.
#   docker build -t ghcr.io/flagwright/flagwright:0.1.0 .
#   docker run --rm ghcr.io/flagwright/flagwright:0.1.0 sidecar --help
# The base images are build arguments; the defaults are the public images. scripts/image.ts builds
# local equivalents from Debian packages (for machines without a container registry) and passes
# them in: BUILD_IMAGE needs node and npm, RUNTIME_IMAGE node at /nodejs/bin/node and user 65532.
ARG BUILD_IMAGE=node:20-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs20-debian12:nonroot

# Build: full dependency tree, TypeScript compiled by `npm run build` (tsconfig.build.json: src → dist),
# then scripts/bundle.ts bundles the CLI into dist/bundle (the entrypoint: a sidecar in every pod
# loads less) and the Kubernetes client names the project uses into dist/kube/client.js.
FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/bundle.ts ./scripts/
RUN npm run build

# Production dependencies only, without the dev tool chain.
FROM ${BUILD_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# Runtime: distroless Node 20 (no shell, no package manager), non-root user 65532.
FROM ${RUNTIME_IMAGE}
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
ENTRYPOINT ["/nodejs/bin/node", "/app/dist/bundle/main.js"]
CMD ["--help"]
