# Network-namespace harness (DESIGN.md §8): each node in a namespace of its
# own, the switch (a bridge) in another, no default route anywhere and the
# host namespace never attached, so no packet can leave the machine. Sourced
# after tests/dataplane/lib.sh, whose node functions it redirects.
#
# Faults: partition N (nft drop inside node N's namespace), heal N.

NS_TAG="tdm$$"
NS_SUBNET="10.213.$(($$ % 200 + 20))"
node_ip() { echo "$NS_SUBNET.$((10 + $1))"; }
ns_of() { echo "${NS_TAG}n$1"; }
BR_NS="${NS_TAG}br"

netns_setup() {
  local count=$1 i
  ip netns add "$BR_NS"
  ip -n "$BR_NS" link add br0 type bridge
  ip -n "$BR_NS" link set br0 up
  ip -n "$BR_NS" link set lo up
  for ((i = 0; i < count; i++)); do
    local ns
    ns=$(ns_of "$i")
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip -n "$BR_NS" link add "p$i" type veth peer name eth0 netns "$ns"
    ip -n "$BR_NS" link set "p$i" master br0 up
    ip -n "$ns" addr add "$(node_ip "$i")/24" dev eth0
    ip -n "$ns" link set eth0 up
    # Guard: the only routes are the test subnet's.
    if ip -n "$ns" route show default | grep -q .; then fail "namespace $ns has a default route"; fi
  done
  for ((i = 1; i < count; i++)); do
    ip netns exec "$(ns_of 0)" ip route get "$(node_ip "$i")" | grep -q "dev eth0" ||
      fail "route to $(node_ip "$i") does not stay on the test bridge"
  done
}

netns_cleanup() {
  local i
  for ((i = 0; i < NODES; i++)); do ip netns del "$(ns_of "$i")" 2>/dev/null || true; done
  ip netns del "$BR_NS" 2>/dev/null || true
}

# Cut node N off from every other node, both ways.
partition() {
  ip netns exec "$(ns_of "$1")" nft -f - <<NFT
table inet tandem_fault {
  chain input { type filter hook input priority 0; policy accept; iifname "eth0" drop; }
  chain output { type filter hook output priority 0; policy accept; oifname "eth0" drop; }
}
NFT
}
heal() { ip netns exec "$(ns_of "$1")" nft delete table inet tandem_fault 2>/dev/null || true; }

# tandemd inside node N's namespace.
start_node() {
  local n=$1 root
  root=$(root_of "$n")
  mkdir -p "$root/run/tandem"
  (setsid ip netns exec "$(ns_of "$n")" "$TANDEMD" --root "$root" --node "$(node_name "$n")" \
    --enable-faults --pid-file "$root/tandemd.pid" ${TANDEMD_ARGS:-} </dev/null \
    >>"$root/tandemd.log" 2>&1 &)
  local i
  for ((i = 0; i < 200; i++)); do
    [ -S "$root/run/tandem/tandemd.sock" ] && [ -s "$root/tandemd.pid" ] && return 0
    sleep 0.05
  done
  cat "$root/tandemd.log" >&2
  fail "tandemd on node $n did not start"
}
