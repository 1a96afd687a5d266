# The worker image (ECS service): consumes the SQS job queues. Non-root, minimal.
# Build from the repository root:
#   docker buildx build --platform linux/arm64 -f infra/docker/worker.Dockerfile -t operator-worker .

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --locked -p operator-worker \
    && install -m 0755 target/release/worker /worker

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin operator
COPY --from=build /worker /usr/local/bin/worker
USER operator
ENTRYPOINT ["/usr/local/bin/worker"]
