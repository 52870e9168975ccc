#!/usr/bin/env bash
# Build the test suite's OpenTelemetry Collector (main.go + go.mod + go.sum in this
# folder) and print the path of the binary on stdout.
#
# The binary is cached outside the clone, keyed by the sha256 of go.mod, go.sum and
# main.go: ${XDG_CACHE_HOME:-$HOME/.cache}/nglogger/otelcol-<hash>/otelcol. A later run
# with the same sources prints the cached path without building. tests/collector/otelcol.py
# computes the same path, so the tests find the binary without this script.
#
# Needs Go (`go` on PATH, $GO, or /usr/local/go/bin/go) and a module proxy. The build is
# reproducible: -mod=readonly uses exactly the versions in go.mod/go.sum and fails if
# go.sum is incomplete.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
hash="$(cat "$here/go.mod" "$here/go.sum" "$here/main.go" | sha256sum | cut -c1-16)"
dir="${XDG_CACHE_HOME:-$HOME/.cache}/nglogger/otelcol-$hash"
bin="$dir/otelcol"
if [ -x "$bin" ]; then
    echo "otelcol: cached $bin" >&2
else
    go="${GO:-$(command -v go || true)}"
    if [ -z "$go" ] && [ -x /usr/local/go/bin/go ]; then
        go=/usr/local/go/bin/go
    fi
    if [ -z "$go" ]; then
        echo "otelcol: Go is not installed (needed to build the test collector)" >&2
        exit 1
    fi
    echo "otelcol: building with $("$go" version) (a few minutes the first time)" >&2
    mkdir -p "$dir"
    tmp="$(mktemp "$dir/otelcol.XXXXXX")"
    trap 'rm -f "$tmp"' EXIT
    start=$SECONDS
    (cd "$here" && "$go" build -mod=readonly -buildvcs=false -trimpath -ldflags "-s -w" -o "$tmp" .)
    chmod 755 "$tmp"
    mv -f "$tmp" "$bin"   # atomic: a concurrent run sees no binary or a whole one
    trap - EXIT
    echo "otelcol: built $bin in $((SECONDS - start)) s" >&2
fi
echo "$bin"
