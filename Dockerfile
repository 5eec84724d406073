# kooper's image, for merchants who build with Docker: a static binary on a
# distroless, non-root base. `make image` builds the same image without Docker
# or a registry (hack/image: FROM scratch, written as an OCI archive in
# bin/images/), and a test (hack/image/dockerfile_test.go) holds the final
# stage below to it: the same USER, ENTRYPOINT and files.
# Build and push (from a machine with a Docker engine; these CI machines have none):
#   docker buildx build --platform linux/amd64,linux/arm64 --build-arg VERSION=<version> \
#     -t swr.<region>.myhuaweicloud.com/<organization>/kooper:<version> --push .
# Mirror the base images into your own registry (SWR) if your build hosts cannot reach them.

# The build stage runs on the build host's platform and cross-compiles (Go
# needs no emulator), so an arm64 image for CCE's Kunpeng nodes builds as
# fast as an amd64 one.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY *.go ./
COPY api/ api/
COPY controllers/ controllers/
COPY webhook/ webhook/
COPY internal/ internal/
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/kooper .

FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/kooper /kooper
USER 65532:65532
ENTRYPOINT ["/kooper"]
