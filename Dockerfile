# syntax=docker/dockerfile:1
# bedrock-guard container image: build with the pinned toolchain, run as a non-root user on a
# distroless base (glibc, CA certificates, no shell, no package manager). The process writes no
# files, so it runs with a read-only root filesystem.
#
#   docker build -t bedrock-guard .
#   docker run --read-only -p 9090:9090 -e AWS_REGION=us-east-1 bedrock-guard

# ---- build ----------------------------------------------------------------------------------------
# rust-toolchain.toml pins 1.95.0: use the image of the same version so nothing is downloaded. The full
# (not slim) image brings the C toolchain aws-lc-sys (TLS for the AWS credential providers) builds with.
FROM rust:1.95.0-bookworm AS build
WORKDIR /src

# Dependencies first, in their own layer: source edits do not rebuild them.
COPY Cargo.toml Cargo.lock rust-toolchain.toml ./
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src

COPY src ./src
COPY config ./config
# touch: the placeholder build left newer timestamps on the crate's own artifacts.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && install -D -m 0755 target/release/bedrock-guard /out/bedrock-guard

# ---- runtime --------------------------------------------------------------------------------------
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/bedrock-guard /usr/local/bin/bedrock-guard
# A working default: the sidecar example (proxy on 127.0.0.1:8787 for containers sharing the network
# namespace, admin on 0.0.0.0:9090) and its policy. The gateway mounts its own configuration over
# /etc/bedrock-guard; a network listener needs client authentication ([auth], see deploy/README.md).
COPY config/sidecar.toml /etc/bedrock-guard/config/bedrock-guard.toml
COPY config/policies/org-allowlist.json /etc/bedrock-guard/policies/

# distroless "nonroot": uid/gid 65532, no home directory writes needed.
USER 65532:65532
EXPOSE 8787 9090
ENV BEDROCK_GUARD_CONFIG=/etc/bedrock-guard/config/bedrock-guard.toml
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/bedrock-guard", "health", "--admin", "127.0.0.1:9090"]
ENTRYPOINT ["/usr/local/bin/bedrock-guard"]
CMD ["serve"]
