#!/usr/bin/env bash
# Builds the real Kubernetes binaries that test/e2e/k8s runs, from their Go modules (no prebuilt downloads):
# kube-apiserver, etcd, and kustomize (to build manifests/ for the tests). Cached: a second run returns at once.
#
#   KTHENA_CACHE        cache root (default ~/.cache/kthena-router); binaries land in $KTHENA_CACHE/k8s/bin
#   K8S_VERSION         k8s.io/kubernetes version (default v1.35.4; the staging modules k8s.io/* use v0.35.4)
#   ETCD_VERSION        go.etcd.io/etcd/server/v3 version (default v3.6.5, the etcd Kubernetes 1.35 is built against)
#   KUSTOMIZE_VERSION   sigs.k8s.io/kustomize/kustomize/v5 version (default v5.8.1)
#
# k8s.io/kubernetes cannot be `go install`ed: its go.mod replaces every k8s.io/<staging> module by a directory of its
# own repository. We build it from a throw-away wrapper module that requires k8s.io/kubernetes and points each
# staging module at its published v0.x release instead. etcd's server module has the same kind of replaces, so it is
# built from the same wrapper (its version then agrees with the etcd client inside kube-apiserver).
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.35.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.5}"
KUSTOMIZE_VERSION="${KUSTOMIZE_VERSION:-v5.8.1}"
CACHE="${KTHENA_CACHE:-$HOME/.cache/kthena-router}/k8s"
STAGING_VERSION="v0.${K8S_VERSION#v1.}"
BUILD_DIR="$CACHE/build-$K8S_VERSION-etcd-$ETCD_VERSION"
OUT_DIR="$BUILD_DIR/bin"

# Go is needed only to build: with the binaries cached, `npm test` runs without it.
need_go() {
  command -v go >/dev/null || { echo "setup-k8s-binaries: Go 1.25 or newer is required to build $1 (not cached in $OUT_DIR)" >&2; exit 1; }
}
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9

build_control_plane() {
  need_go "kube-apiserver and etcd"
  mkdir -p "$BUILD_DIR"
  cd "$BUILD_DIR"
  echo "setup-k8s-binaries: building kube-apiserver $K8S_VERSION and etcd $ETCD_VERSION in $BUILD_DIR (about 23 min on 2 cores the first time)"
  local k8s_mod staging m
  k8s_mod="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
  [[ -f "$k8s_mod" ]] || { echo "setup-k8s-binaries: could not download k8s.io/kubernetes@$K8S_VERSION" >&2; exit 1; }
  staging="$(sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/src/k8s\.io/[a-z0-9-]*$#\1#p' "$k8s_mod")"
  [[ -n "$staging" ]] || { echo "setup-k8s-binaries: no staging replaces found in $k8s_mod" >&2; exit 1; }
  {
    echo "module kthena.local/k8s-binaries"
    echo
    echo "go 1.25.0"
    echo
    echo "replace ("
    for m in $staging; do echo "	$m => $m $STAGING_VERSION"; done
    echo ")"
  } >go.mod
  nice go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION" "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  local ldflags="-s -w"
  ldflags+=" -X k8s.io/component-base/version.gitVersion=$K8S_VERSION"
  ldflags+=" -X k8s.io/component-base/version.gitMajor=1"
  ldflags+=" -X k8s.io/component-base/version.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2)"
  ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
  rm -rf "$BUILD_DIR/bin.tmp"
  mkdir -p "$BUILD_DIR/bin.tmp" "$OUT_DIR"
  nice go build -trimpath -ldflags "$ldflags" -o "$BUILD_DIR/bin.tmp/" k8s.io/kubernetes/cmd/kube-apiserver go.etcd.io/etcd/server/v3
  mv "$BUILD_DIR/bin.tmp/kube-apiserver" "$OUT_DIR/kube-apiserver"
  # go names the binary of a module path ending in /v3 after the element before it.
  mv "$BUILD_DIR/bin.tmp/server" "$OUT_DIR/etcd"
  rm -rf "$BUILD_DIR/bin.tmp"
}

if [[ ! -x "$OUT_DIR/kube-apiserver" || ! -x "$OUT_DIR/etcd" ]]; then
  build_control_plane
fi
if [[ "$("$OUT_DIR/kustomize" version 2>/dev/null || true)" != "$KUSTOMIZE_VERSION" ]]; then
  need_go kustomize
  echo "setup-k8s-binaries: building kustomize $KUSTOMIZE_VERSION"
  GOBIN="$OUT_DIR" nice go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
fi
ln -sfn "$OUT_DIR" "$CACHE/bin"
echo "kube-apiserver: $("$OUT_DIR/kube-apiserver" --version)"
echo "etcd: $("$OUT_DIR/etcd" --version | head -1)"
echo "kustomize: $("$OUT_DIR/kustomize" version)"
echo "setup-k8s-binaries: ready in $CACHE/bin"
