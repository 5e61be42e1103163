# syntax=docker/dockerfile:1.7
# Multi-stage build. Targets:
#   (default)  the gateway: distroless runtime, non-root, HEALTHCHECK via `naa-gateway healthcheck`
#   sim        the Entra ID and Graph simulators (`naa-sim`), for the compose sandbox only
# Build: docker build -t naa-gateway .   |   docker build --target sim -t naa-sim .

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target directory between builds; binaries are copied
# out because the cache mount is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p naa-gateway --bin naa-gateway \
 && cargo build --release --locked -p naa-sim --bin naa-sim \
 && mkdir -p /out \
 && cp target/release/naa-gateway target/release/naa-sim /out/

FROM gcr.io/distroless/cc-debian12:nonroot AS sim
COPY --from=build /out/naa-sim /usr/local/bin/naa-sim
USER nonroot
EXPOSE 9001 9002
ENTRYPOINT ["/usr/local/bin/naa-sim"]
CMD ["--entra-listen", "0.0.0.0:9001", "--graph-listen", "0.0.0.0:9002"]

FROM gcr.io/distroless/cc-debian12:nonroot AS gateway
COPY --from=build /out/naa-gateway /usr/local/bin/naa-gateway
# distroless "nonroot" is uid/gid 65532; no shell, no package manager.
USER nonroot
EXPOSE 8080 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/naa-gateway", "healthcheck", "http://127.0.0.1:8080"]
ENTRYPOINT ["/usr/local/bin/naa-gateway"]
CMD ["serve", "--config", "/etc/naa-gateway/naa-gateway.toml"]
