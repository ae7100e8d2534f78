# tinyfleet-gateway on Debian 12, built with the project's own install script.
#   docker build -f docker/gateway.Dockerfile -t tinyfleet-gateway .
#   docker run -p 7443:7443 -p 7080:7080 -v tinyfleet:/var/lib/tinyfleet tinyfleet-gateway
FROM debian:12 AS build
WORKDIR /src
COPY deploy/install-deps.sh deploy/install-deps.sh
RUN deploy/install-deps.sh
COPY . .
RUN cmake --preset release -DTF_RV32=OFF -DTF_FUZZ_SUBBUILD=OFF -DTF_BUILD_TESTS=OFF \
      -DTF_BUILD_BENCHMARKS=OFF \
 && cmake --build --preset release --target tinyfleet-gateway tinyfleet

FROM debian:12-slim
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      libgrpc++1.51 libprotobuf32 libsqlite3-0 libssl3 libboost-program-options1.74.0 \
      libprometheus-cpp-core1.0 ca-certificates \
 && rm -rf /var/lib/apt/lists/* && useradd --system --home /var/lib/tinyfleet tinyfleet
COPY --from=build /src/build/release/server/main/tinyfleet-gateway /usr/local/bin/
COPY --from=build /src/build/release/server/cli/tinyfleet /usr/local/bin/
USER tinyfleet
VOLUME /var/lib/tinyfleet
EXPOSE 7443 7080
ENTRYPOINT ["tinyfleet-gateway", "--data-dir", "/var/lib/tinyfleet", \
            "--listen", "0.0.0.0:7443", "--http-listen", "0.0.0.0:7080"]
