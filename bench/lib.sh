# shellcheck shell=bash
# What the bench scripts share, sourced from the source tree's top:
#   source bench/lib.sh NAME
# gives $work (a fresh directory, vpbx-NAME.XXXXXX) and $revision (of the sources, at start);
# every process a script starts goes into pids (pids+=($!)), and all of them are stopped, last
# first, and the directory removed when the script ends, Ctrl-C included. free_port prints a free
# loopback port.
revision=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
work=$(mktemp -d "${TMPDIR:-/tmp}/vpbx-$1.XXXXXX")
pids=()
cleanup() {
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
