# syntax=docker/dockerfile:1
#
# Parley: one image, two stages.
#   build    compiles better-sqlite3 if no prebuilt binary can be fetched, compiles TypeScript
#            to dist/, then drops the dev dependencies;
#   runtime  production node_modules + dist/ + package.json on the same base (same glibc and
#            Node ABI as the build, so the native module loads), run as the non-root node user.
#
#   docker build -t parley:0.1.0 .
#   docker run --rm -p 50051:50051 -p 9464:9464 -v parley-data:/app/data \
#     -e PARLEY_API_KEYS='<long-random-key>=acme' parley:0.1.0
#
# The image listens on 0.0.0.0, so it refuses to start without PARLEY_API_KEYS (or
# PARLEY_API_KEYS_FILE) unless PARLEY_AUTH=none is given explicitly. See docs/operations.md.

FROM node:20-bookworm-slim AS build
WORKDIR /app
# node-gyp's toolchain for better-sqlite3, used only when its prebuilt binary cannot be downloaded.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY gen ./gen
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    PARLEY_HOST=0.0.0.0 \
    PARLEY_PORT=50051 \
    PARLEY_METRICS_PORT=9464 \
    PARLEY_DATABASE_URL=sqlite:/app/data/parley.db
# Code stays owned by root (the app cannot rewrite itself); only /app/data is the node user's.
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
RUN mkdir -p /app/data && chown node:node /app/data
VOLUME ["/app/data"]
USER node
# One port for native gRPC (h2c), Connect and gRPC-Web; Prometheus /metrics on the second.
EXPOSE 50051 9464
# The standard grpc.health.v1.Health/Check for the whole server ("" = an empty, zero-byte request),
# by hand with @grpc/grpc-js: exit 0 only when the response is status=SERVING (bytes 08 01),
# 1 on NOT_SERVING (draining), connection failure or the 3 s deadline.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "const g=require('@grpc/grpc-js');const c=new g.Client('127.0.0.1:'+(process.env.PARLEY_PORT||50051),g.credentials.createInsecure());c.makeUnaryRequest('/grpc.health.v1.Health/Check',()=>Buffer.alloc(0),(b)=>b,{},{deadline:Date.now()+3000},(e,r)=>process.exit(!e&&r&&r.length===2&&r[0]===8&&r[1]===1?0:1))"]
# SIGTERM: health turns NOT_SERVING, in-flight turns get PARLEY_SHUTDOWN_GRACE_MS, then exit 0.
STOPSIGNAL SIGTERM
# Exec form: node is PID 1 and receives the signal itself (Parley installs SIGTERM/SIGINT handlers).
CMD ["node", "dist/src/main.js"]
