# Multi-stage build: a static-ish release binary on a minimal, non-root runtime image.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin naa-gateway

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/naa-gateway /usr/local/bin/naa-gateway
USER nonroot
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD ["/usr/local/bin/naa-gateway", "healthcheck", "http://127.0.0.1:8080"]
ENTRYPOINT ["/usr/local/bin/naa-gateway"]
CMD ["serve", "--config", "/etc/naa-gateway/naa-gateway.toml"]
