#!/usr/bin/env bash
# Builds the OpenTelemetry Collector that test/e2e/tracing exports spans to: tools/otelcol, the core OTLP receiver
# wired to the contrib file exporter, compiled from its Go modules (pinned in tools/otelcol/go.mod). Cached: a second
# run returns at once. Go is needed only for the first build.
#
#   OTELCOL_BIN      use this collector instead (nothing is built); it must have the otlp receiver and file exporter
#   KTHENA_CACHE     cache root (default ~/.cache/kthena-router); the binary lands in $KTHENA_CACHE/otelcol/<hash>/otelcol
#
# Prints the binary's path on its last line.
set -euo pipefail
cd "$(dirname "$0")/../tools/otelcol"

if [[ -n "${OTELCOL_BIN:-}" ]]; then
  "$OTELCOL_BIN" --version >/dev/null || { echo "setup-otelcol: OTELCOL_BIN=$OTELCOL_BIN does not run" >&2; exit 1; }
  echo "$OTELCOL_BIN"
  exit 0
fi

# Keyed by the sources, so a version bump in go.mod rebuilds.
KEY="$(cat go.mod go.sum main.go | sha256sum | cut -c1-16)"
CACHE="${KTHENA_CACHE:-$HOME/.cache/kthena-router}/otelcol"
BIN="$CACHE/$KEY/otelcol"
mkdir -p "$CACHE/$KEY"
exec 9>"$CACHE/.lock"
flock 9

if [[ ! -x "$BIN" ]]; then
  command -v go >/dev/null || { echo "setup-otelcol: Go 1.26 or newer is required for the first build" >&2; exit 1; }
  echo "setup-otelcol: building tools/otelcol into $BIN (5-15 min on 2 cores the first time)" >&2
  nice go build -trimpath -ldflags "-s -w" -o "$BIN.tmp" .
  mv "$BIN.tmp" "$BIN"
fi
"$BIN" --version >/dev/null
echo "$BIN"
