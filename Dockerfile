# syntax=docker/dockerfile:1
# The presence server's image: built from source with Bazel against Debian 12's
# gRPC, Abseil and protobuf, and run on debian:12-slim with the shared
# libraries the binary links.
#
#   docker build -t presence-server:dev .
#   docker run --rm -p 50051:50051 -p 9090:9090 presence-server:dev
#
# Containers cannot be built on the project's test machines, so
# k8s/manifests_test.sh checks this file against the real binary instead:
# Bazel's output path, the flags and ports below, the runtime packages (one
# for every library `ldd` lists beyond the base image), the numeric USER.

FROM debian:12 AS build
WORKDIR /src
# The packages first, so this layer is reused while only the sources change.
COPY scripts/setup.sh scripts/setup.sh
RUN scripts/setup.sh
COPY . .
# Bazel's cache is a cache mount (kept between builds, not in the image), so
# the binary is copied out of bazel-bin within the same step.
RUN --mount=type=cache,target=/root/.cache/bazel \
    bazel build -c opt //service:presence_server \
 && install -D -m 0555 bazel-bin/service/presence_server /out/presence_server

FROM debian:12-slim AS runtime
# One package per library the binary links directly (readelf -d) that
# debian:12-slim lacks; apt brings their own dependencies. ca-certificates:
# libcurl reads the CA bundle at run time for HTTPS webhook URLs.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates \
      libabsl20220623 \
      libc-ares2 \
      libcurl4 \
      libgrpc++1.51 \
      libgrpc29 \
      libhiredis0.14 \
      libleveldb1d \
      libprotobuf32 \
      libre2-9 \
      libssl3 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/presence_server /usr/local/bin/presence_server
# A numeric user, so Kubernetes' runAsNonRoot can verify it without a passwd
# entry.
USER 65532:65532
EXPOSE 50051 9090
ENTRYPOINT ["/usr/local/bin/presence_server"]
# Listen on every interface (the server's default is 127.0.0.1, unreachable
# from outside the container). Kubernetes' `args` replace these.
CMD ["--listen_address=0.0.0.0:50051", "--metrics_address=0.0.0.0:9090"]
