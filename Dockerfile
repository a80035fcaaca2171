# Portico's container image: Debian bookworm, Debian's HAProxy, the libraries
# the binary links, user portico (1000:1000), Portico as PID 1 (it runs and
# supervises HAProxy itself). scripts/image.sh builds the same image without
# Docker or a registry. See doc/install.md.
#
#   docker build -t portico:latest .
#
# make test builds it with BuildKit (tests/deploy/dockerfile.sh) and runs the
# result as it runs scripts/image.sh's (tests/deploy/test_image.py).
#
# Root filesystem read-only friendly: Portico writes only under /tmp
# (--config-dir /tmp/portico/config, --runtime-dir /tmp/portico/run); mount
# an emptyDir there (deploy/portico.yaml does).

FROM debian:bookworm AS build
WORKDIR /src
COPY scripts/deps.sh scripts/
RUN scripts/deps.sh build && rm -rf /var/lib/apt/lists/*
# The static libcurl, built once from Debian's source into /root/.cache/portico
# (what make would do first): a layer of its own, so that a change of the
# sources rebuilds Portico only.
COPY scripts/curl.sh scripts/
RUN scripts/curl.sh static build/curl-static.mk
# only what make reads (.dockerignore keeps the rest out of the context)
COPY Makefile ./
COPY src src/
RUN make -j"$(nproc)" portico && strip portico
# The Debian packages that own the libraries the binary links (as
# scripts/image.sh finds them), for the runtime stage to install.
RUN for lib in $(ldd portico | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do \
        { dpkg -S "$lib" || dpkg -S "/usr$lib" || dpkg -S "$(realpath "$lib")"; } 2>/dev/null | \
            head -n 1 | cut -d: -f1; \
    done | sort -u > runtime-packages && cat runtime-packages

FROM debian:bookworm-slim
COPY --from=build /src/runtime-packages /tmp/runtime-packages
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        haproxy ca-certificates $(cat /tmp/runtime-packages) \
    && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages \
    && groupadd --gid 1000 portico \
    && useradd --uid 1000 --gid 1000 --home-dir /tmp --no-create-home \
        --shell /usr/sbin/nologin --comment Portico portico
COPY --from=build /src/portico /usr/local/bin/portico
USER 1000:1000
# http, https, stat (HAProxy stats and Prometheus), healthz (HAProxy), controller
EXPOSE 8080 8443 1024 1042 6060
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/portico"]
