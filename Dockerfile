# kooper's image: a static binary on a distroless, non-root base.
# Build and push (from a machine with a Docker engine; these CI machines have none):
#   docker build -t swr.<region>.myhuaweicloud.com/<organization>/kooper:<version> .
#   docker push swr.<region>.myhuaweicloud.com/<organization>/kooper:<version>
# Mirror the base images into your own registry (SWR) if your build hosts cannot reach them.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY main.go ./
COPY api/ api/
COPY controllers/ controllers/
COPY webhook/ webhook/
COPY internal/ internal/
ARG TARGETOS=linux
ARG TARGETARCH=amd64
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath -ldflags "-s -w" -o /out/kooper .

FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/kooper /kooper
USER 65532:65532
ENTRYPOINT ["/kooper"]
