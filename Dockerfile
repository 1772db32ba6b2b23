# syntax=docker/dockerfile:1
#
# The leadpipe binary in a distroless image. One image serves every
# subcommand: docker-compose.yml runs it as `topics`, `migrate`, and
# `run classify|enrich|sink`.
#
#   docker build -t leadpipe .
#   docker run --rm leadpipe run --help

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /leadpipe ./cmd/leadpipe

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /leadpipe /leadpipe
USER nonroot:nonroot
# /metrics, /healthz and /readyz of `leadpipe run` (--metrics-addr).
EXPOSE 9464
ENTRYPOINT ["/leadpipe"]
CMD ["help"]
