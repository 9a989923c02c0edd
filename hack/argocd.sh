#!/usr/bin/env bash
# Build (once) and cache Argo CD, so tests can check what Argo CD users see with Argo CD's
# own code: the all-in-one binary from the Go module proxy (argocd, argocd-repo-server and
# argocd-application-controller are the same binary under different names), Argo CD's CRDs
# and the git helper scripts the repo-server needs on PATH; redis-server and git from apt.
#
# Usage: hack/argocd.sh            builds what is missing, prints the Argo CD folder last
#        hack/argocd.sh --print    prints the Argo CD folder only (no build, no apt)
#
# The folder ($CACHE/argocd-$ARGOCD_VERSION) holds bin/ (the binary and its names), crds/
# and hack/. Same cache root as hack/testbin.sh, keyed by version: a bumped version builds
# a new folder and leaves the old one alone.
set -euo pipefail

ARGOCD_VERSION=${ARGOCD_VERSION:-v3.6.1}
# v3.6's go.mod asks for go 1.27; the go command fetches this toolchain as a module.
ARGOCD_GOTOOLCHAIN=${ARGOCD_GOTOOLCHAIN:-go1.27.4}

CACHE=${PAYPLAT_TESTBIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/payplat/testbin}
DIR="$CACHE/argocd-$ARGOCD_VERSION"

if [[ "${1:-}" == "--print" ]]; then echo "$DIR"; exit 0; fi

BUILD_LOG_NAME=argocd
# shellcheck source=hack/buildlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/buildlib.sh"

apt_packages() {
  # Debian names: the redis-server package provides redis-server, git provides git.
  local missing=()
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v git >/dev/null || missing+=(git)
  [[ ${#missing[@]} -eq 0 ]] && return
  log "installing ${missing[*]} with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >&2
}

build_argocd() {
  local out="$DIR/bin/argocd-$ARGOCD_VERSION"
  if [[ -x "$out" && -f "$DIR/crds/application-crd.yaml" && -x "$DIR/hack/git-verify-wrapper.sh" ]]; then
    log "argocd $ARGOCD_VERSION cached"; return
  fi
  log "building argocd $ARGOCD_VERSION from the Go module proxy with $ARGOCD_GOTOOLCHAIN (cold: about 6 minutes on 2 cores)"
  mkdir -p "$DIR/bin" "$DIR/crds" "$DIR/hack"
  local mod; mod=$(mktemp -d)
  export GOTOOLCHAIN=$ARGOCD_GOTOOLCHAIN GOFLAGS="${GOFLAGS:-} -buildvcs=false" CGO_ENABLED=0
  local info gomod src
  info=$(cd "$mod" && go mod download -json "github.com/argoproj/argo-cd/v3@$ARGOCD_VERSION")
  gomod=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])' <<<"$info")
  src=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])' <<<"$info")
  {
    echo "module payplat.local/testbin/argocd"
    echo
    echo "go $(awk '$1 == "go" {print $2; exit}' "$gomod")"
    echo
    echo "require github.com/argoproj/argo-cd/v3 $ARGOCD_VERSION"
    echo
    # A dependent module must repeat Argo CD's replace block (k8s.io pins and others), minus
    # the lines pointing into Argo CD's own tree (gitops-engine is served as a module).
    awk '/^replace \(/,/^\)/' "$gomod" | grep -v '=> \./'
  } >"$mod/go.mod"
  cat >"$mod/tools.go" <<'GO'
//go:build tools

package tools

import _ "github.com/argoproj/argo-cd/v3/cmd"
GO
  local pkg=github.com/argoproj/argo-cd/v3/common
  (cd "$mod" && go mod tidy >&2)
  if fetch_only; then rm -rf "$mod"; return 0; fi
  (cd "$mod" && with_heartbeat argocd go build -p 2 \
      -ldflags "-s -w -X $pkg.version=${ARGOCD_VERSION#v}" \
      -o "$out.tmp" github.com/argoproj/argo-cd/v3/cmd)
  cp "$src"/manifests/crds/application-crd.yaml "$src"/manifests/crds/appproject-crd.yaml "$DIR/crds/"
  # The repo-server runs git through these scripts; without them on PATH every manifest
  # generation fails with "permission denied".
  cp "$src"/hack/git-verify-wrapper.sh "$src"/hack/git-ask-pass.sh "$DIR/hack/"
  chmod 0755 "$DIR"/hack/*.sh
  chmod -R u+w "$DIR"
  mv "$out.tmp" "$out"; rm -rf "$mod"
  log "argocd ready: $out"
}

link_names() {
  # The binary dispatches on argv[0].
  local name
  for name in argocd argocd-application-controller argocd-repo-server argocd-git-ask-pass; do
    ln -sf "argocd-$ARGOCD_VERSION" "$DIR/bin/$name"
  done
}

if fetch_only; then build_argocd; exit 0; fi  # no apt-get: hack/test.sh's own may hold the lock
apt_packages
build_argocd
link_names
echo "$DIR"
