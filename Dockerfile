# syntax=docker/dockerfile:1
# JoinedUp server image. go-sqlite3 needs cgo, so the binary links glibc
# dynamically: build and run stages must share the Debian release (bookworm).

FROM golang:1.26-bookworm AS build
WORKDIR /src
# The SQLite store's full-text search needs FTS5 (see the Makefile).
ENV GOFLAGS=-tags=sqlite_fts5
# Dependencies first: this layer is reused until go.mod/go.sum change. The
# cache mounts keep modules and compiled packages between builds (BuildKit).
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=1 go build -trimpath -ldflags='-s -w' -o /out/joinedup ./server/cmd/joinedup \
 && mkdir -p /out/webapp && GOOS=js GOARCH=wasm CGO_ENABLED=0 go build -trimpath -ldflags=-s -o /out/webapp/app.wasm ./mobile-sdk/webapp/wasm \
 && cp "$(go env GOROOT)/lib/wasm/wasm_exec.js" /out/webapp/ \
 && go run ./mobile-sdk/webapp/cmd/precompress /out/webapp

FROM debian:bookworm-slim
# ca-certificates: outbound TLS to FCM. Versions follow the bookworm point release.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 joinedup \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin joinedup \
 && mkdir -p /data \
 && chown 10001:10001 /data
COPY --from=build /out/joinedup /usr/local/bin/joinedup
# The field app's engine, served at /app/ (the shell is inside the binary).
COPY --from=build /out/webapp /usr/local/share/joinedup/webapp
COPY scripts/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV DATA_DIR=/data PORT=8080 WEBAPP_DIR=/usr/local/share/joinedup/webapp
# Created and chowned above, before VOLUME, so a new named volume starts owned
# by joinedup. A bind mount keeps its host owner: the entrypoint says so
# clearly if the directory is not writable (chown it, or run with --user).
VOLUME /data
EXPOSE 8080
USER 10001:10001
# SIGTERM lets in-flight syncs finish (up to 30 s) before the server exits.
# docker stop waits only 10 s by default before SIGKILL: run with
# --stop-timeout 40 (compose: stop_grace_period: 40s).
STOPSIGNAL SIGTERM
# The binary probes itself (the image has no curl/wget on purpose), at
# localhost:$PORT, and asks /readyz: a server whose database is unreachable,
# corrupt or whose disk is full is unhealthy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/joinedup", "-healthcheck"]
# The entrypoint listens on every interface at $PORT (the binary listens on
# localhost by default). A production volume gets no demo data: pass `-demo`
# to try it out.
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["-demo=false"]
