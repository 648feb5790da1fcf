# The kradle image the Helm chart runs (charts/kradle, image.repository):
#   docker build -t ghcr.io/a5c-ai/kradle:0.1.0 .
# A static musl binary on distroless/static: no shell, no libc, user 65532 (nonroot).

FROM rust:1.95-alpine AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY . .
# rustls only: no OpenSSL. libgit2 and zlib are built from source and linked statically.
RUN cargo build --release --locked --bin kradle \
 && strip target/release/kradle \
 && ./target/release/kradle --version

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="kradle" \
      org.opencontainers.image.source="https://github.com/a5c-ai/kradle" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /src/target/release/kradle /usr/local/bin/kradle
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/kradle"]
CMD ["--help"]
