# Shared by hack/testbin.sh and hack/argocd.sh (sourced, not run): progress lines and a
# heartbeat. The sourcing script sets BUILD_LOG_NAME first.

# PAYPLAT_GO_FETCH_ONLY=1: resolve and download a build's Go modules (and toolchain),
# build nothing. hack/test.sh runs every build script so in the background from the start:
# on a cold machine the downloads then overlap pip and the compiles instead of adding to
# them (the control-plane step went from 899 s to 800 s cold).
fetch_only() { [[ -n "${PAYPLAT_GO_FETCH_ONLY:-}" ]]; }

log() { printf '[%s%s] %s\n' "${BUILD_LOG_NAME:-build}" "${PAYPLAT_GO_FETCH_ONLY:+, fetching modules only}" "$*" >&2; }

# Go prints nothing for minutes on a cold build; a heartbeat shows we are alive.
with_heartbeat() {
  local what=$1; shift
  local start=$SECONDS
  ( while sleep 30; do log "  still building $what ($((SECONDS - start))s)"; done ) &
  local hb=$!
  local rc=0
  "$@" || rc=$?
  kill "$hb" 2>/dev/null; wait "$hb" 2>/dev/null || true
  return $rc
}
