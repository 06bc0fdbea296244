#!/usr/bin/env bash
# Validates every Envoy bootstrap in envoy/ with Envoy's API types (tools/envoy-validate, go-control-plane), then
# checks that the validator rejects each deliberately broken file in tools/envoy-validate/testdata/broken/.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null || { echo "validate-envoy: Go 1.26 or newer is required (tools/envoy-validate is a Go program)" >&2; exit 1; }

bin="${KTHENA_CACHE:-$HOME/.cache/kthena-router}/envoy-validate"
mkdir -p "$(dirname "$bin")"
(cd tools/envoy-validate && go build -o "$bin" .)

"$bin" envoy/*.yaml

status=0
for broken in tools/envoy-validate/testdata/broken/*.yaml; do
  if "$bin" "$broken" >/dev/null 2>&1; then
    echo "FAIL: $broken was accepted but is invalid" >&2
    status=1
  else
    echo "$broken: rejected as expected"
  fi
done
(cd tools/envoy-validate && go test ./...)
exit $status
