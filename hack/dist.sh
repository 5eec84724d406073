#!/usr/bin/env bash
# make dist: the release binaries, into bin/dist/ (never committed: bin/ is
# git-ignored).
#   - the operator for linux/amd64 and linux/arm64: kooper_<os>_<arch>;
#   - the kubectl plugin for linux/amd64, linux/arm64, darwin/arm64 and
#     windows/amd64, each in a krew archive kubectl-kooper_<os>_<arch>.tar.gz
#     holding the binary and LICENSE;
#   - SHA256SUMS, one line per file above (sha256sum -c checks them);
#   - plugin.yaml, the krew manifest of the archives (krew's index format:
#     one platform per archive, with its uri, sha256 and bin).
# Usage: hack/dist.sh VERSION URL_BASE, e.g.
#   hack/dist.sh v0.5.0 https://github.com/kooper-io/kooper/releases/download/v0.5.0
# VERSION is what --version prints; krew wants semantic versions, so one that
# is not vMAJOR.MINOR.PATCH[...] is written v0.0.0-VERSION in the manifest.
# Builds are static (CGO_ENABLED=0) and reproducible (-trimpath; archives
# with fixed owners, order and times).
set -euo pipefail
cd "$(dirname "$0")/.."

version=${1:?usage: hack/dist.sh VERSION URL_BASE}
url_base=${2:?usage: hack/dist.sh VERSION URL_BASE}
out=bin/dist
# DIST_OPERATOR_PLATFORMS and DIST_PLUGIN_PLATFORMS (space-separated os/arch)
# narrow a build: CI builds the linux ones, whose packages the image build
# has compiled already, and leaves darwin and windows (a cold compile of the
# whole client tree for each) to a release's full make dist.
read -r -a operator_platforms <<< "${DIST_OPERATOR_PLATFORMS:-linux/amd64 linux/arm64}"
read -r -a plugin_platforms <<< "${DIST_PLUGIN_PLATFORMS:-linux/amd64 linux/arm64 darwin/arm64 windows/amd64}"

krew_version=$version
if ! [[ $krew_version =~ ^v[0-9]+\.[0-9]+\.[0-9]+ ]]; then
  krew_version=v0.0.0-${version#v}
fi

rm -rf "$out"
mkdir -p "$out/work"

# build OS ARCH PACKAGE FILE: one static binary, stamped with the version.
build() {
  echo "Building $4 ($1/$2)"
  CGO_ENABLED=0 GOOS=$1 GOARCH=$2 go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$4" "$3"
}

for p in "${operator_platforms[@]}"; do
  build "${p%/*}" "${p#*/}" . "$out/kooper_${p%/*}_${p#*/}"
done

manifest_platforms=""
for p in "${plugin_platforms[@]}"; do
  os=${p%/*} arch=${p#*/}
  bin=kubectl-kooper
  [[ $os == windows ]] && bin=kubectl-kooper.exe
  dir=$out/work/${os}_${arch}
  mkdir -p "$dir"
  build "$os" "$arch" ./hack/kubectl-kooper "$dir/$bin"
  cp LICENSE "$dir/LICENSE"
  archive=kubectl-kooper_${os}_${arch}.tar.gz
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$dir" -cf - "$bin" LICENSE | gzip -n -9 > "$out/$archive"
  sum=$(sha256sum "$out/$archive" | cut -d' ' -f1)
  manifest_platforms+="  - selector:
      matchLabels:
        os: $os
        arch: $arch
    uri: $url_base/$archive
    sha256: $sum
    bin: $bin
    files:
      - from: $bin
        to: .
      - from: LICENSE
        to: .
"
done
rm -rf "$out/work"

cat > "$out/plugin.yaml" <<EOF
# krew plugin manifest (krew.sigs.k8s.io/docs/developer-guide/plugin-manifest), made by
# make dist for kubectl-kooper $version. Install from the archives here:
#   kubectl krew install --manifest=bin/dist/plugin.yaml --archive=bin/dist/kubectl-kooper_<os>_<arch>.tar.gz
apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: kooper
spec:
  version: $krew_version
  homepage: https://github.com/kooper-io/kooper
  shortDescription: Manage kooper, the KooGallery SaaS operator
  description: |
    kubectl kooper manages kooper, a Kubernetes operator that sells a
    containerised app as SaaS on Huawei Cloud KooGallery: it lists and
    describes tenants, runs the preflight before the production URL is
    registered, makes debug purchases, and issues and verifies licence keys.
  platforms:
$manifest_platforms
EOF

(cd "$out" && sha256sum kooper_* kubectl-kooper_* plugin.yaml > SHA256SUMS)

# The builds for this machine run and carry the version.
host=$(go env GOOS)_$(go env GOARCH)
if [[ -f $out/kubectl-kooper_$host.tar.gz ]]; then
  tar -xzf "$out/kubectl-kooper_$host.tar.gz" -O kubectl-kooper > "$out/.kubectl-kooper" && chmod +x "$out/.kubectl-kooper"
  "$out/.kubectl-kooper" --version | grep -qF "kubectl-kooper $version " || { echo "kubectl-kooper --version does not say $version"; exit 1; }
  rm "$out/.kubectl-kooper"
fi
if [[ -x $out/kooper_$host ]]; then
  "$out/kooper_$host" --version | grep -qF "kooper $version " || { echo "kooper --version does not say $version"; exit 1; }
fi
echo "Wrote $out:"
ls -l "$out"
