# Shell helpers every multi-process test harness shares (tests/dataplane/lib.sh,
# tests/e2e/lib.sh). The harness defines dump_state, called on failure.

log() { echo "== $*" >&2; }
fail() {
  echo "FAIL: $*" >&2
  dump_state
  exit 1
}

# wait_for DESCRIPTION TIMEOUT_S COMMAND...: poll until the command succeeds
# (it is run again on every poll, so pass a function, not "$(...)"), every
# WAIT_POLL_MS milliseconds (default 50).
wait_for() {
  local what=$1 timeout=$2 i poll=${WAIT_POLL_MS:-50}
  shift 2
  for ((i = 0; i < timeout * 1000 / poll; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep "$(printf '%d.%03d' $((poll / 1000)) $((poll % 1000)))"
  done
  fail "timed out after ${timeout}s waiting for $what"
}
