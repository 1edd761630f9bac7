# syntax=docker/dockerfile:1
# zt-authz container image.
#
#   docker build -t zt-authz:0.1.0 .
#
# Three stages: `build` compiles TypeScript with the dev dependencies, `deps` installs the
# production dependencies only (npm ci --omit=dev), and the runtime stage copies the compiled
# code, the protos and those dependencies into a distroless Node.js 24 image (Node 24 LTS is the
# production target; the build stages use the same major, so npm ci resolves for the runtime's
# Node): no shell, no package manager, UID 65532, nothing written at run time (runs with
# readOnlyRootFilesystem).
# Health is checked by Kubernetes probes on the admin port (/healthz, /readyz), so there is no
# HEALTHCHECK. test/e2e/dockerfile.test.ts checks these properties and runs the production-only
# install the `deps` stage makes.
ARG NODE_IMAGE=node:24-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
# Compile src/ only (tsconfig.json also covers test/ and bench/); output in dist/src/.
RUN printf '{"extends":"./tsconfig.json","compilerOptions":{"incremental":false},"include":["src/**/*.ts"]}' > tsconfig.image.json \
 && npx tsc -p tsconfig.image.json

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${RUNTIME_IMAGE} AS runtime
LABEL org.opencontainers.image.title="zt-authz" \
      org.opencontainers.image.description="Zero-trust Envoy ext_authz service: JWT/JWKS verification, workload identity, default-deny policy" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
ENV NODE_ENV=production
# Files stay owned by root and read-only for the runtime user.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY proto ./proto
COPY --from=build /src/dist/src ./dist/src
USER 65532:65532
# gRPC ext_authz, HTTP authz, admin (metrics, probes), sidecar-injection webhook (HTTPS).
EXPOSE 9191 9192 9090 9443
ENTRYPOINT ["/nodejs/bin/node", "dist/src/cli/main.js", "serve"]
# The configuration file: pass `--config FILE` as arguments or set ZT_AUTHZ_CONFIG.
CMD ["--config", "/etc/zt-authz/config.yaml"]
