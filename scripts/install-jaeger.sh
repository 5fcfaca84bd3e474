#!/usr/bin/env bash
# Build Jaeger (Go module github.com/jaegertracing/jaeger, its v2 binary cmd/jaeger: an
# OpenTelemetry collector with an in-memory trace store and the query API) into the cache that
# later runs reuse. The tracing tests send lkx's spans to it and read them back. Needs Go and
# the Go module proxy only.
#
# Exits non-zero when it cannot install (no Go, a failed build), unless LKX_SKIP_JAEGER=1.
#
# `go install module/cmd@version` refuses Jaeger: its go.mod has a replace directive. So the
# module's source is fetched from the proxy (`go mod download`) and built where it lies, which
# honours the replace; the module cache stays read-only.
set -euo pipefail
VERSION=${JAEGER_VERSION:-v1.76.0}
MODULE=github.com/jaegertracing/jaeger
CACHE=${LKX_CACHE:-$HOME/.cache/lkx}
BIN="$CACHE/bin/jaeger"

if [ "${LKX_SKIP_JAEGER:-0}" = "1" ]; then
  echo "jaeger: not installed (LKX_SKIP_JAEGER=1); the tracing tests skip, and fail in CI" >&2
  exit 0
fi
if [ -x "$BIN" ] && "$BIN" version 2>/dev/null | grep -q "\"$VERSION\""; then
  echo "jaeger: $VERSION already at $BIN"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "jaeger: cannot install: Go is not installed. Install Go, or" \
    "set LKX_SKIP_JAEGER=1 to go on without Jaeger and the tracing tests" >&2
  exit 1
fi
mkdir -p "$CACHE/bin"
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
echo "jaeger: building $VERSION (a few minutes, once)"
if ! source=$(go mod download -json "$MODULE@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') \
  || [ -z "$source" ] || [ ! -d "$source" ]; then
  echo "jaeger: cannot install: downloading $MODULE@$VERSION failed (see above)" >&2
  exit 1
fi
# no debug info and no local paths (the link step is the slowest single part); the version is
# stamped in so that `jaeger version` names it and a re-run can skip the build
flags="-s -w -X $MODULE/internal/version.latestVersion=$VERSION"
if ! (cd "$source" && go build -trimpath -ldflags="$flags" -o "$build/jaeger" ./cmd/jaeger); then
  echo "jaeger: cannot install: building $VERSION failed (see above)" >&2
  exit 1
fi
mv "$build/jaeger" "$BIN"
if ! "$BIN" version 2>/dev/null | grep -q "\"$VERSION\""; then
  echo "jaeger: cannot install: the built $BIN does not run" >&2
  exit 1
fi
echo "jaeger: $VERSION installed at $BIN"
