# The API function's `bootstrap`, built on Amazon Linux 2023 — the glibc of the
# provided.al2023 runtime — for the platform buildx is given (arm64 for the template):
#   docker buildx build --platform linux/arm64 -f infra/docker/lambda.Dockerfile \
#     --target export --output type=local,dest=target/deploy/lambda .
# scripts/deploy.sh runs this when cargo-lambda is not installed.

FROM public.ecr.aws/amazonlinux/amazonlinux:2023 AS build
RUN dnf install -y --setopt=install_weak_deps=False gcc gcc-c++ make cmake tar gzip \
    && dnf clean all
RUN curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
    | sh -s -- -y --profile minimal --default-toolchain 1.95.0
ENV PATH=/root/.cargo/bin:$PATH
WORKDIR /src
COPY . .
RUN cargo build --profile lambda --locked -p operator-api-function \
    && install -m 0755 target/lambda/api /bootstrap

FROM scratch AS export
COPY --from=build /bootstrap /bootstrap
