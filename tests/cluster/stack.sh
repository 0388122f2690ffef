# Full-stack network-namespace harness (DESIGN.md §8): the tests/e2e cluster
# (controller, and per node a tandemd and a satellite), with the controller
# in namespace 0 and node N in namespace N, all on the test bridge of
# netns.sh. Sourced after tests/e2e/lib.sh and netns.sh, whose node
# functions it redirects. The tandem CLI runs in the controller's namespace;
# NBD clients reach the volumes through their unix sockets from here.
#
# Faults: partition N / heal N (netns.sh) cut node N off, controller link
# included; stop_node N KILL kills its satellite and tandemd (tests/e2e).

REST="$(node_ip 0):$PORT"
tandem() { ip netns exec "$(ns_of 0)" "$TANDEM" --controllers "$REST" "$@"; }

start_tandemd() {
  local n=$1 root
  root=$(root_of "$n")
  mkdir -p "$root/run/tandem" "$(pool_dir "$n")"
  start_daemon "$root/tandemd.pid" "$root/tandemd.log" \
    ip netns exec "$(ns_of "$n")" "$TANDEMD" --root "$root" --node "$(node_name "$n")"
  wait_for "tandemd of node $n" 10 test -S "$root/run/tandem/tandemd.sock"
}

start_satellite() {
  local n=$1 root
  root=$(root_of "$n")
  start_daemon "$root/satellite.pid" "$root/satellite.log" \
    ip netns exec "$(ns_of "$n")" "$TANDEM_SATELLITE" --root "$root" --node "$(node_name "$n")" \
    --listen "$(node_ip "$n"):$SAT_PORT"
}

start_controller() {
  mkdir -p "$SCRATCH/ctl"
  start_daemon "$SCRATCH/ctl/controller.pid" "$SCRATCH/ctl/controller.log" \
    ip netns exec "$(ns_of 0)" "$TANDEM_CONTROLLER" --root "$SCRATCH/ctl" --rest-listen "$REST"
  wait_for "the controller's REST API" 10 tandem controller version
}

stack_cleanup() {
  cleanup
  local i
  for ((i = 0; i <= NODES; i++)); do ip netns del "$(ns_of "$i")" 2>/dev/null || true; done
  ip netns del "$BR_NS" 2>/dev/null || true
}
