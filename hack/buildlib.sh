# Shared by hack/testbin.sh and hack/argocd.sh (sourced, not run): progress lines and a
# heartbeat. The sourcing script sets BUILD_LOG_NAME first.

log() { printf '[%s] %s\n' "${BUILD_LOG_NAME:-build}" "$*" >&2; }

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
