# The HaloITSM plugin image: a static Rust binary on a minimal base.
# Without a Docker engine, `make export` builds the same image (a .plg) with `cargo xtask export`.

FROM rust:1.95.0-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends musl-tools \
    && rm -rf /var/lib/apt/lists/* \
    && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
RUN CC_x86_64_unknown_linux_musl=musl-gcc \
    cargo build --release --locked --package icon_haloitsm --target x86_64-unknown-linux-musl \
    && mkdir -p /out/workspace/cache /out/workspace/tmp \
    && cp target/x86_64-unknown-linux-musl/release/icon_haloitsm /out/icon_haloitsm

FROM gcr.io/distroless/static-debian12:latest
LABEL organization=iconhalo \
      sdk=rust \
      description="HaloITSM plugin for Rapid7 InsightConnect"
COPY --from=build /out/icon_haloitsm /icon_haloitsm
COPY --from=build --chown=65534:65534 /out/workspace /workspace
ADD ./plugin.spec.yaml /plugin.spec.yaml
USER nobody
EXPOSE 10001
ENTRYPOINT ["/icon_haloitsm"]
