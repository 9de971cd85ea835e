#!/usr/bin/env bash
# Writes the man page of one of the project's binaries, gzipped, from its own --help and --version
# (help2man; packaging/man/man.cmake runs this once the binary is built):
#   packaging/man/help2man.sh [--name=TEXT] [--version=STRING] [--include=FILE.h2m] BINARY OUT.1.gz
# --name: the NAME line (else the NAME paragraph of the binary's --help). --version: for a binary
# without --version. The date is SOURCE_DATE_EPOCH's (help2man reads it; the caller sets it) and
# gzip -n stores no timestamp, so the same binary always gives the same bytes.
#
# help2man expects GNU-style help ("Usage:", "Options:"); the binaries' help is reshaped for it
# before help2man reads it, and nothing is written by hand:
#   "usage: PROG ..."              -> "Usage: PROG ..." (the SYNOPSIS)
#   the first flag lines ("  --x") -> under "Options:" (OPTIONS), unless under a heading below
#   man-style headings (vpbxctl's NAME, SYNOPSIS, COMMANDS, GLOBAL OPTIONS, ... in capitals):
#     NAME's line becomes the NAME, SYNOPSIS's lines the SYNOPSIS, others help2man's "*HEADING*"
#     sections, their running text unindented
# and help2man's bold of dotted flags (--web.listen-address, cut at the dot) is mended after.
set -euo pipefail
fail() { echo "help2man.sh: $*" >&2; exit 1; }
name="" version="" include=()
while [ $# -gt 2 ]; do
  case $1 in
    --name=*) name=${1#--name=} ;;
    --version=*) version=${1#--version=} ;;
    --include=*) include=("--include=$(realpath "${1#--include=}")") ;;
    *) fail "unknown option $1" ;;
  esac
  shift
done
[ $# -eq 2 ] || fail "usage: help2man.sh [--name=TEXT] [--version=STRING] [--include=FILE] BINARY OUT.1.gz"
bin=$(realpath "$1")
out=$(realpath -m "$2")
help2man=${HELP2MAN:-help2man}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

help=$("$bin" --help) || fail "$bin --help exits $?"
[ -n "$help" ] || fail "$bin --help prints nothing"
if [ -z "$version" ]; then
  version=$("$bin" --version) || fail "$bin --version exits $?"
  # "vpbx_exporter, version 0.1.0 (revision ...)" -> "vpbx_exporter 0.1.0": help2man reads the
  # program's name and version from the first line, and prints it in the page's footer.
  version=$(head -n 1 <<<"$version" | sed -E 's/^([^ ,]+),? version ([^ ]+).*/\1 \2/')
fi

awk -v namefile="$work/name" '
  function strip(s) { sub(/^ +/, "", s); return s }
  # A paragraph under a man-style heading: a table (two spaces between words, or flags) keeps its
  # indent; running text loses it (help2man would make it an indented .IP).
  function flush(   i, table) {
    for (i = 1; i <= n; i++) if (para[i] ~ /[^ ]  +[^ ]/ || para[i] ~ /^ +-/) table = 1
    for (i = 1; i <= n; i++) print table ? para[i] : strip(para[i])
    n = 0
  }
  /^usage: / { sub(/^usage:/, "Usage:") }
  /^[A-Z][A-Z ]*[A-Z]$/ {
    flush(); heading = $0
    if (heading != "NAME" && heading != "SYNOPSIS") print "*" heading "*"
    next
  }
  heading == "NAME" { if ($0 != "") { s = strip($0); sub(/^[^ ]+ - /, "", s); print s >namefile } next }
  heading == "SYNOPSIS" { print ($0 == "" ? "" : (synopsis++ ? "   or: " : "Usage: ") strip($0)); next }
  heading != "" { if ($0 == "") { flush(); print } else para[++n] = $0; next }
  !options && /^ +-/ && (prev == "" || prev ~ /^Usage: /) { print ""; print "Options:"; options = 1 }
  { print; prev = $0 }
  END { flush() }
' <<<"$help" >"$work/help"
if [ -z "$name" ]; then
  [ -s "$work/name" ] || fail "$bin --help has no NAME paragraph: give --name"
  name=$(cat "$work/name")
fi

# help2man runs "PROGRAM --help" through the shell: "cat help" hands it the reshaped text.
(cd "$work" && "$help2man" --no-info --section=1 --name="$name" --version-string="$version" \
   --help-option=help "${include[@]}" --output=page.1 cat) || fail "help2man failed"
flag='\\fB(\\-\\-[[:alnum:]]+)\\fR((\.[[:alnum:]_]+(\\-[[:alnum:]_]+)*)+)'
sed -E -e "s/$flag=([[:upper:]][[:upper:][:digit:]_]*)/\\\\fB\\1\\2\\\\fR=\\\\fI\\\\,\\5\\\\\\/\\\\fR/g" \
       -e "s/$flag/\\\\fB\\1\\2\\\\fR/g" "$work/page.1" >"$work/page.fixed.1"
mkdir -p "$(dirname "$out")"
gzip -9nc "$work/page.fixed.1" >"$out.tmp"
mv "$out.tmp" "$out"
