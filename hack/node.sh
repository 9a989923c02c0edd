#!/usr/bin/env bash
# Build (once) and cache what a real single-node cluster needs beyond hack/testbin.sh's
# control plane: kubelet, kube-controller-manager and kube-scheduler from the same
# k8s.io/kubernetes module as kube-apiserver, and containerd v2 (containerd,
# containerd-shim-runc-v2, ctr) from the Go module proxy. Development tooling for the node
# lane (tests/node) and `hack/demo.sh --node`; the images come from hack/image.sh.
#
# Usage: hack/node.sh            builds what is missing, prints the bin folder last
#        hack/node.sh --print    prints the bin folder only (no build)
#
# Cold on 2 busy cores (Go cache warmed by kube-apiserver): containerd ~1.5 min, kubelet +
# controller manager + scheduler ~15 min. Cached by version next to etcd.
set -euo pipefail
cd "$(dirname "$0")/.."

CONTAINERD_VERSION=${CONTAINERD_VERSION:-v2.4.2}
# shellcheck source=hack/testbin.sh
source hack/testbin.sh --functions   # BIN, KUBE_VERSION, log, with_heartbeat, build_kube_components
if [[ "${1:-}" == "--print" ]]; then echo "$BIN"; exit 0; fi

build_containerd() {
  local tools=(containerd containerd-shim-runc-v2 ctr) t missing=0
  for t in "${tools[@]}"; do [[ -x "$BIN/$t-$CONTAINERD_VERSION" ]] || missing=1; done
  if ((missing == 0)); then log "containerd $CONTAINERD_VERSION cached"; return; fi
  log "building containerd $CONTAINERD_VERSION from the Go module proxy (cold: about 1.5 minutes)"
  local mod; mod=$(mktemp -d)
  cat >"$mod/go.mod" <<GOMOD
module payplat.local/testbin/containerd

go 1.26

require github.com/containerd/containerd/v2 $CONTAINERD_VERSION
GOMOD
  {
    printf '//go:build tools\n\npackage tools\n\n'
    for t in "${tools[@]}"; do printf 'import _ "github.com/containerd/containerd/v2/cmd/%s"\n' "$t"; done
  } >"$mod/tools.go"
  local pkg=github.com/containerd/containerd/v2/version
  mkdir -p "$mod/out"
  (cd "$mod" && go mod tidy >&2)
  if fetch_only; then rm -rf "$mod"; return 0; fi
  (cd "$mod" && with_heartbeat containerd go build -p 2 \
      -ldflags "-s -w -X $pkg.Version=$CONTAINERD_VERSION" \
      -o "$mod/out/" "${tools[@]/#/github.com/containerd/containerd/v2/cmd/}")
  for t in "${tools[@]}"; do mv "$mod/out/$t" "$BIN/$t-$CONTAINERD_VERSION"; done
  rm -rf "$mod"
  log "containerd ready: $BIN/containerd-$CONTAINERD_VERSION"
}

start=$SECONDS
build_containerd
build_kube_components kubelet kube-controller-manager kube-scheduler
if fetch_only; then exit 0; fi
for t in containerd containerd-shim-runc-v2 ctr; do ln -sf "$t-$CONTAINERD_VERSION" "$BIN/$t"; done
for c in kubelet kube-controller-manager kube-scheduler; do ln -sf "$c-$KUBE_VERSION" "$BIN/$c"; done
log "node binaries ready in $((SECONDS - start))s"
echo "$BIN"
