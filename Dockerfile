# syntax=docker/dockerfile:1
# Multi-stage build: a static detour binary on a distroless base, running
# as a non-root user. Build with: docker build -t detour .

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/detour ./cmd/detour \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/detour /detour
# The data dir must be writable by the nonroot user (uid 65532).
COPY --from=build --chown=65532:65532 /out/data /var/lib/detour
USER 65532:65532
VOLUME ["/var/lib/detour"]
# DNS, admin API, Raft.
EXPOSE 53/udp 53/tcp 8053 8054
# Docker (20.10+) lets non-root processes bind ports below 1024 inside the
# container's network namespace; elsewhere add CAP_NET_BIND_SERVICE or use
# another dns_addr.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/detour", "healthcheck", "--api", "http://127.0.0.1:8053", "--timeout", "2s"]
ENTRYPOINT ["/detour"]
# Mount a node config (docs/config.md) at /etc/detour/detour.yaml, with
# api_addr/raft_addr on 0.0.0.0 and their advertise addresses set, or pass
# flags instead: docker run detour server --node-id n1 ...
CMD ["server", "--config", "/etc/detour/detour.yaml", "--data-dir", "/var/lib/detour"]
