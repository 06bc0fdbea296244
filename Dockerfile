# syntax=docker/dockerfile:1
# kthena-router image: the router (entrypoint) and the engine simulator (dist/src/sim/main.js).
#   docker build -t kthena-router:local .

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY proto ./proto
COPY src ./src
RUN npx tsc -p tsconfig.json && npm prune --omit=dev --no-audit --no-fund

# Distroless: no shell or package manager, runs as uid 65532 (nonroot).
FROM gcr.io/distroless/nodejs20-debian12:nonroot
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/proto ./proto
COPY --from=build /src/dist/src ./dist/src
USER 65532:65532
# 9002 ext_proc gRPC (+ gRPC health), 9003 gRPC health, 8080 standalone proxy, 9090 /metrics /healthz /readyz
EXPOSE 9002 9003 8080 9090
ENTRYPOINT ["/nodejs/bin/node", "dist/src/main.js"]
