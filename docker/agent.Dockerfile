# tinyfleet-agent (and tinyfleet-fleetsim) on Debian 12.
#   docker build -f docker/agent.Dockerfile -t tinyfleet-agent .
#   docker run -v agent:/var/lib/tinyfleet -v $PWD/ca.crt:/etc/tinyfleet/ca.crt:ro \
#     tinyfleet-agent --gateway gw:7443 --ca /etc/tinyfleet/ca.crt \
#     --token-file /etc/tinyfleet/token --node kws=tcp:10.0.0.5:7000
FROM debian:12 AS build
WORKDIR /src
COPY deploy/install-deps.sh deploy/install-deps.sh
RUN deploy/install-deps.sh
COPY . .
RUN cmake --preset release -DTF_RV32=OFF -DTF_FUZZ_SUBBUILD=OFF -DTF_BUILD_TESTS=OFF \
      -DTF_BUILD_BENCHMARKS=OFF \
 && cmake --build --preset release --target tinyfleet-agent tinyfleet-fleetsim tinyfleet-node

FROM debian:12-slim
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      libgrpc++1.51 libprotobuf32 libssl3 libboost-program-options1.74.0 ca-certificates \
 && rm -rf /var/lib/apt/lists/* && useradd --system --home /var/lib/tinyfleet tinyfleet \
 && usermod -a -G dialout tinyfleet
COPY --from=build /src/build/release/agent/main/tinyfleet-agent /usr/local/bin/
COPY --from=build /src/build/release/agent/fleetsim/tinyfleet-fleetsim /usr/local/bin/
COPY --from=build /src/build/release/device/sim/tinyfleet-node /usr/local/bin/
USER tinyfleet
VOLUME /var/lib/tinyfleet
ENTRYPOINT ["tinyfleet-agent", "--state-dir", "/var/lib/tinyfleet"]
