# syntax=docker/dockerfile:1
# The cxloop image: one static binary that runs as `cxloop manager` and, in
# the collector Deployments the manager creates, as `cxloop collector`.
#
#   make docker-build IMG=ghcr.io/cxloop/cxloop:dev
#   docker buildx build --platform linux/amd64,linux/arm64 -t $IMG .

# The builder runs on the build machine's platform and cross-compiles for the
# target platform, so multi-platform builds need no emulation.
FROM --platform=$BUILDPLATFORM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH

WORKDIR /workspace
# Download modules first: this layer is cached until go.mod or go.sum changes.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .
# CGO off: a static binary for the distroless static base (the SQLite driver,
# modernc.org/sqlite, is pure Go).
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o /out/cxloop .

# distroless static: CA certificates, tzdata (report schedules in time zones)
# and /etc/passwd, no shell; nonroot is UID/GID 65532.
FROM gcr.io/distroless/static:nonroot
COPY --from=builder /out/cxloop /cxloop
USER 65532:65532
ENTRYPOINT ["/cxloop"]
