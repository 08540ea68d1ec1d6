# The provider simulator (taskgate-sim) for docker-compose.yaml's `sim` profile: all four
# provider dialects on one port, any non-empty key accepted. For trying taskgate out only.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
COPY config ./config
RUN cargo build --release --locked -p taskgate-sim --bin taskgate-sim \
 && strip target/release/taskgate-sim

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin sim
COPY --from=build /src/target/release/taskgate-sim /usr/local/bin/taskgate-sim
USER sim:sim
EXPOSE 8090
ENTRYPOINT ["/usr/local/bin/taskgate-sim"]
CMD ["--listen", "0.0.0.0:8090"]
