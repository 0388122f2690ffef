# record_result ROOT NAME COMMAND TABLE_FILE [COMMIT_NOTE]: appends a run's
# header (date, machine, commit, command) and its table to
# bench/results/DATE-NAME.md. Sourced by the bench scripts.
record_result() {
  local root=$1 name=$2 command=$3 table=$4 note=${5:-} out
  mkdir -p "$root/bench/results"
  out="$root/bench/results/$(date -u +%Y-%m-%d)-$name.md"
  {
    if [ -s "$out" ]; then echo; fi
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
    echo "commit: $(git -C "$root" rev-parse --short HEAD)$note"
    echo "command: $command"
    echo
    cat "$table"
  } >>"$out"
  echo "recorded in ${out#"$root"/}" >&2
}
