#!/usr/bin/env bash
# Build (once) and cache the Pulumi CLI the real-engine tests, the demo and the image run:
# compiled from the Go module proxy (no release tarball can be downloaded on these
# machines), version-pinned, cached next to etcd and kube-apiserver (hack/testbin.sh).
#
# Usage: hack/pulumi-cli.sh            builds it if missing, prints the binary's path last
#        hack/pulumi-cli.sh --print    prints the binary's path only (no build)
#
# Cache: ${PAYPLAT_TESTBIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/payplat/testbin}/bin/pulumi-$PULUMI_CLI_VERSION
# (a `pulumi` symlink points at it).
#
# Why v3.274.0 when the Python SDK pin is 3.272.0: the module proxy does not serve
# pkg/v3 v3.271-v3.273, and the SDK accepts any newer CLI (it needs >= 3.181 for inline
# refresh/destroy). a test under tests/ship keeps this pin, the Dockerfile's and
# pyproject's in step.
set -euo pipefail

PULUMI_CLI_VERSION=${PULUMI_CLI_VERSION:-v3.274.0}

CACHE=${PAYPLAT_TESTBIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/payplat/testbin}
BIN="$CACHE/bin"
OUT="$BIN/pulumi-$PULUMI_CLI_VERSION"

if [[ "${1:-}" == "--print" ]]; then echo "$OUT"; exit 0; fi

BUILD_LOG_NAME=pulumi-cli
# shellcheck source=hack/buildlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/buildlib.sh"  # log, with_heartbeat
mkdir -p "$BIN"

if [[ -x "$OUT" ]]; then
  log "pulumi $PULUMI_CLI_VERSION cached"
  ln -sf "pulumi-$PULUMI_CLI_VERSION" "$BIN/pulumi"
  echo "$OUT"
  exit 0
fi

export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
export CGO_ENABLED=0

log "building pulumi $PULUMI_CLI_VERSION from the Go module proxy (cold: 8-13 minutes on 2 cores, ~2 GB RSS)"
start=$SECONDS
mod=$(mktemp -d)
trap 'rm -rf "$mod"' EXIT
# A wrapper main module: pkg/v3's go.mod replaces sdk/v3 with ../sdk (satisfied here by
# requiring the same sdk version) and atotto/clipboard with a fork (copied).
cat >"$mod/go.mod" <<GOMOD
module payplat.local/testbin/pulumi

go 1.26

require (
	github.com/pulumi/pulumi/pkg/v3 $PULUMI_CLI_VERSION
	github.com/pulumi/pulumi/sdk/v3 $PULUMI_CLI_VERSION
)

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
GOMOD
cat >"$mod/tools.go" <<'GO'
//go:build tools

package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
GO
(cd "$mod" && go mod tidy >&2)
if fetch_only; then exit 0; fi
(cd "$mod" && with_heartbeat pulumi go build -p 2 -trimpath \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_CLI_VERSION" \
    -o "$OUT.tmp" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
got=$("$OUT.tmp" version)
if [[ "$got" != "$PULUMI_CLI_VERSION" ]]; then
  log "built binary says '$got', expected $PULUMI_CLI_VERSION"; rm -f "$OUT.tmp"; exit 1
fi
mv "$OUT.tmp" "$OUT"
ln -sf "pulumi-$PULUMI_CLI_VERSION" "$BIN/pulumi"
log "pulumi $PULUMI_CLI_VERSION ready in $((SECONDS - start))s: $OUT"
echo "$OUT"
