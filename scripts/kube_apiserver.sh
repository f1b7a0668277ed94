#!/usr/bin/env bash
# A real kube-apiserver for the Kubernetes tests and the demo, built once from Debian's own `kubernetes`
# source package (no registry ships the server binary) and cached outside the repository, with Debian's
# etcd beside it. A repeat run finds the cached binary and returns at once.
#
#   scripts/kube_apiserver.sh          build if needed; prints the binary's path
#   SPOTOPT_KUBE_CACHE=DIR             where the build is kept (default ~/.cache/spotopt/kube)
#
# See TOOLING-NOTES ("A real Kubernetes API server"): GOPATH mode, vendored sources, no network for Go.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
CACHE="${SPOTOPT_KUBE_CACHE:-$HOME/.cache/spotopt/kube}"
VERSION=1.20.2
BINARY="$CACHE/bin/kube-apiserver-$VERSION"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

need_packages=()
command -v etcd >/dev/null || need_packages+=(etcd-server)
command -v openssl >/dev/null || need_packages+=(openssl)
if [ ! -x "$BINARY" ]; then
  command -v go >/dev/null || need_packages+=(golang-go)
  command -v dpkg-source >/dev/null || need_packages+=(dpkg-dev)
fi
if [ "${#need_packages[@]}" -gt 0 ]; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${need_packages[@]}" >/dev/null
fi

if [ -x "$BINARY" ]; then
  echo "$BINARY"
  exit 0
fi

mkdir -p "$CACHE/src" "$CACHE/bin"
if [ ! -d "$CACHE/src/kubernetes-$VERSION" ]; then
  sources=/etc/apt/sources.list.d/spotopt-deb-src.sources
  if [ ! -f "$sources" ]; then
    suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
    printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$suite" | $SUDO tee "$sources" >/dev/null
  fi
  $SUDO apt-get update -qq
  (cd "$CACHE/src" && apt-get source -qq kubernetes >/dev/null)
fi
tree=$(find "$CACHE/src" -maxdepth 1 -type d -name "kubernetes-*" | head -n 1)
[ -n "$tree" ] || { echo "apt-get source kubernetes left no source tree in $CACHE/src" >&2; exit 1; }

# Debian builds it in GOPATH mode: `go build -mod=vendor` fails on this tree.
gopath="$CACHE/gopath"
mkdir -p "$gopath/src/k8s.io"
ln -sfn "$tree" "$gopath/src/k8s.io/kubernetes"
echo "building kube-apiserver $VERSION from Debian's source (about 12 minutes on 2 cores, once)" >&2
(
  cd "$gopath/src/k8s.io/kubernetes"
  GOPATH="$gopath" GOCACHE="$CACHE/gocache" CGO_ENABLED=0 GOPROXY=off GO111MODULE=off KUBE_GIT_VERSION="v$VERSION" \
    make WHAT=cmd/kube-apiserver >"$CACHE/build.log" 2>&1
) || { tail -n 40 "$CACHE/build.log" >&2; exit 1; }
built=$(find "$tree/_output" -type f -name kube-apiserver -perm -u+x | head -n 1)
[ -n "$built" ] || { echo "the build produced no kube-apiserver (see $CACHE/build.log)" >&2; exit 1; }
install -m 0755 "$built" "$BINARY"
rm -rf "$CACHE/gocache" "$tree/_output"
echo "$BINARY"
