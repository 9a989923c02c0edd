# Shared by the hack/ build scripts (sourced, not run). The caller defines log().

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
