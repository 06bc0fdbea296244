#!/usr/bin/env bash
# Builds the real `helm` that test/e2e/helm lints and renders charts/kthena-router with, from its Go module
# helm.sh/helm/v4 (no prebuilt download). Cached: a second run returns at once. Go is needed only for the first build.
#
#   HELM_BIN        use this helm instead (nothing is built); it is only checked to run
#   HELM_VERSION    helm.sh/helm/v4 version (default v4.3.2)
#   KTHENA_CACHE    cache root (default ~/.cache/kthena-router); the binary lands in $KTHENA_CACHE/helm/$HELM_VERSION/helm
#
# Prints the binary's path on its last line.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v4.3.2}"
if [[ -n "${HELM_BIN:-}" ]]; then
  "$HELM_BIN" version >/dev/null || { echo "setup-helm: HELM_BIN=$HELM_BIN does not run" >&2; exit 1; }
  echo "$HELM_BIN"
  exit 0
fi

CACHE="${KTHENA_CACHE:-$HOME/.cache/kthena-router}/helm/$HELM_VERSION"
BIN="$CACHE/helm"
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9

if [[ ! -x "$BIN" ]]; then
  command -v go >/dev/null || { echo "setup-helm: Go 1.26 or newer is required for the first build" >&2; exit 1; }
  echo "setup-helm: building helm $HELM_VERSION into $BIN (5-15 min on 2 cores the first time)" >&2
  # helm reads its own version from these variables; without them `helm version` says v4.0+unreleased.
  ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION"
  rm -rf "$CACHE/gobin"
  GOBIN="$CACHE/gobin" nice go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
  mv "$CACHE/gobin/helm" "$BIN"
  rm -rf "$CACHE/gobin"
fi
"$BIN" version >/dev/null
echo "$BIN"
