# The instance image: `operator-instance` with a headless Chromium and OpenClaw (for the
# `openclaw` kind), run as a non-root user.
# Build from the repository root:
#   docker buildx build --platform linux/arm64 -f infra/docker/instance.Dockerfile -t operator-instance .
# Reproducible: pinned base images, --locked dependencies, no timestamps baked in.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --locked -p operator-instance \
    && install -m 0755 target/release/operator-instance /operator-instance

# OpenClaw for `openclaw` instances: the package pinned by openclaw/package-lock.json, with the
# Node it needs (>= 24.16), in /opt/openclaw, where the Fargate runtime points the instance.
FROM node:24.22.3-bookworm-slim AS openclaw
WORKDIR /opt/openclaw
COPY openclaw/package.json openclaw/package-lock.json ./
RUN npm ci --no-audit --no-fund --omit=dev --loglevel=error \
    && mkdir -p node/bin && cp "$(command -v node)" node/bin/node

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
        ca-certificates chromium curl git fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --create-home --shell /bin/bash operator \
    && mkdir -p /workspace && chown operator:operator /workspace
COPY --from=build /operator-instance /usr/local/bin/operator-instance
COPY --from=openclaw /opt/openclaw /opt/openclaw
USER operator
WORKDIR /workspace
ENV OPERATOR_INSTANCE_PORT=8080 \
    OPERATOR_INSTANCE_BIND=0.0.0.0 \
    OPERATOR_CHROMIUM=/usr/bin/chromium
EXPOSE 8080
HEALTHCHECK NONE
ENTRYPOINT ["/usr/local/bin/operator-instance", "serve", "--workspace", "/workspace"]
