# syntax=docker/dockerfile:1
# JoinedUp server image. go-sqlite3 needs cgo, so the binary links glibc
# dynamically: build and run stages must share the Debian release (bookworm).

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Dependencies first: this layer is reused until go.mod/go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags='-s -w' -o /out/joinedup ./server/cmd/joinedup

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
ENV DATA_DIR=/data PORT=8080
# Created and chowned above, before VOLUME, so a new named volume starts owned by joinedup.
VOLUME /data
EXPOSE 8080
USER 10001:10001
# The binary probes itself (the image has no curl/wget on purpose).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/joinedup", "-healthcheck", "-addr", ":8080"]
ENTRYPOINT ["/usr/local/bin/joinedup"]
# In a container the server must listen on every interface (it listens on
# localhost by default), and a production volume gets no demo data: pass
# `-demo` to try it out.
CMD ["-addr", ":8080", "-demo=false"]
