#!/usr/bin/env bash
# The Debian packages for real: builds them with CPack from BUILD_DIR, checks their contents and
# man pages, installs them with dpkg -i, runs the installed exporter as its system user with the
# packaged config (edited as an admin would: the simulator's URL, secrets, users) against the
# installed simulator, scrapes it, reloads it with SIGHUP as the unit's ExecReload does, verifies the
# systemd unit, then purges both packages and checks that nothing is left.
#   tests/package/check_package.sh BUILD_DIR SOURCE_DIR
# Exit 77 (skipped) when not root, without dpkg/cpack, for a sanitizer build, or when the package
# is already installed on this machine (it is never touched then).
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
skip() { echo "SKIPPED: $*"; exit 77; }
fail() { echo "FAILED: $*"; [ -f "${work:-/nonexistent}/exporter.log" ] && tail -n 20 "$work/exporter.log"; exit 1; }

[ "$(id -u)" -eq 0 ] || skip "installing a .deb needs root"
{ command -v dpkg && command -v cpack; } >/dev/null || skip "dpkg or cpack not found"
grep -Eq '^VPBX_SANITIZE:STRING=(address|thread)$' "$build/CMakeCache.txt" &&
  skip "a sanitizer build is not packaged"
for p in prometheus-vpbx-exporter vpbx-simulator; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "installed" &&
    skip "$p is installed on this machine already"
done

work=$(mktemp -d)
sim_pid=""
exp_pid=""
admin_files=""
cleanup() {
  [ -n "$exp_pid" ] && kill "$exp_pid" 2>/dev/null || true
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null || true
  dpkg --purge prometheus-vpbx-exporter vpbx-simulator >/dev/null 2>&1 || true
  if [ -n "$admin_files" ]; then
    rm -f /etc/vpbx_exporter/password /etc/vpbx_exporter/application_id /etc/vpbx_exporter/users.csv
    rmdir /etc/vpbx_exporter 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() {  # wait_for SECONDS COMMAND...: polls until COMMAND succeeds
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# ---- build and inspect
(cd "$work" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/out" >"$work/cpack.log" 2>&1) ||
  { cat "$work/cpack.log"; fail "cpack"; }
exporter_deb=$(ls "$work"/out/prometheus-vpbx-exporter_*.deb)
simulator_deb=$(ls "$work"/out/vpbx-simulator_*.deb)
echo "built $(basename "$exporter_deb") ($(stat -c %s "$exporter_deb") bytes), $(basename "$simulator_deb")"
dpkg-deb -c "$exporter_deb" | awk '{print $6}' | sed 's|^\./|/|' >"$work/exporter.files"
for f in /usr/bin/vpbx_exporter /etc/vpbx_exporter/vpbx_exporter.yml /etc/default/prometheus-vpbx-exporter \
         /lib/systemd/system/prometheus-vpbx-exporter.service \
         /usr/share/vpbx_exporter/alerts/vpbx_exporter.rules.yml \
         /usr/share/doc/prometheus-vpbx-exporter/copyright; do
  grep -qx "$f" "$work/exporter.files" || fail "$f is not in the exporter's package"
done
ls "$src"/dashboards/*.json >/dev/null 2>&1 && { grep -q '^/usr/share/vpbx_exporter/dashboards/.*\.json$' \
  "$work/exporter.files" || fail "no dashboards in the exporter's package"; }
if [ -e "$build/ctl/vpbxctl" ]; then
  grep -qx /usr/bin/vpbxctl "$work/exporter.files" || fail "vpbxctl is not in the exporter's package"
fi
grep -q vpbx_simulator "$work/exporter.files" && fail "the simulator is in the exporter's package"
grep -q '^/usr/etc' "$work/exporter.files" && fail "a file under /usr/etc"
dpkg-deb -c "$simulator_deb" >"$work/simulator.files"
grep -q '\./usr/bin/vpbx_simulator$' "$work/simulator.files" || fail "no simulator in its package"
# The man pages (help2man, from the binaries' --help): in their packages, gzipped without a
# timestamp, each with a NAME section that man renders.
man_pages=(vpbx_exporter:"$exporter_deb" vpbx_simulator:"$simulator_deb")
[ -e "$build/ctl/vpbxctl" ] && man_pages+=(vpbxctl:"$exporter_deb")
for entry in "${man_pages[@]}"; do
  binary=${entry%%:*} deb=${entry#*:}
  page=/usr/share/man/man1/$binary.1.gz
  files=$(dpkg-deb -c "$deb" | awk '{print $6}')
  grep -qx ".$page" <<<"$files" ||
    fail "no $page in $(basename "$deb"): help2man was missing when $build was configured?"
  dpkg-deb --fsys-tarfile "$deb" | tar -xO ".$page" >"$work/$binary.1.gz"
  [ "$(od -An -tu4 -j4 -N4 "$work/$binary.1.gz" | tr -d ' ')" = 0 ] || fail "$page has a timestamp"
  roff=$(zcat "$work/$binary.1.gz")
  grep -qx '\.SH NAME' <<<"$roff" || fail "$page has no NAME section"
  if command -v man >/dev/null; then
    text=$(MANWIDTH=200 man -l "$work/$binary.1.gz" 2>/dev/null) || fail "man -l $page"
    name=$(sed -n '/^NAME$/{n;s/^ *//;p;q}' <<<"$text")
  else
    name=$(sed -n '/^\.SH NAME$/{n;s/\\-/-/g;p;q}' <<<"$roff")
  fi
  [[ $name == "$binary - "?* ]] || fail "$page: its NAME is \"$name\""
  echo "man page: $name"
done
dpkg-deb --ctrl-tarfile "$exporter_deb" | tar -xO ./conffiles >"$work/conffiles"
grep -qx /etc/vpbx_exporter/vpbx_exporter.yml "$work/conffiles" || fail "the config is not a conffile"
grep -qx /etc/default/prometheus-vpbx-exporter "$work/conffiles" || fail "/etc/default is not a conffile"
echo "depends: $(dpkg-deb -f "$exporter_deb" Depends)"
if command -v lintian >/dev/null; then
  lintian --tag-display-limit 0 "$exporter_deb" "$simulator_deb" >"$work/lintian" 2>&1 || true
  echo "lintian: $(grep -c '^E:' "$work/lintian" || true) errors, $(grep -c '^W:' "$work/lintian" || true) warnings"
  sed 's/^/  /' "$work/lintian"
fi

# ---- install
dpkg -i "$exporter_deb" "$simulator_deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i"; }
getent passwd vpbx_exporter >/dev/null || fail "no system user vpbx_exporter"
[ "$(stat -c '%U:%G %a' /var/lib/vpbx_exporter)" = "vpbx_exporter:vpbx_exporter 750" ] ||
  fail "/var/lib/vpbx_exporter is $(stat -c '%U:%G %a' /var/lib/vpbx_exporter)"
[ "$(stat -c '%U:%G %a' /etc/vpbx_exporter/vpbx_exporter.yml)" = "root:vpbx_exporter 640" ] ||
  fail "the config is $(stat -c '%U:%G %a' /etc/vpbx_exporter/vpbx_exporter.yml)"
[ -L /etc/systemd/system/multi-user.target.wants/prometheus-vpbx-exporter.service ] ||
  fail "the unit is not enabled"
/usr/bin/vpbx_exporter --version | head -n 1

if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify /lib/systemd/system/prometheus-vpbx-exporter.service >"$work/verify" 2>&1 ||
    { cat "$work/verify"; fail "systemd-analyze verify"; }
  [ -s "$work/verify" ] && { cat "$work/verify"; fail "systemd-analyze verify has remarks"; }
  echo "systemd-analyze verify: clean"
  systemd-analyze security --offline=yes /lib/systemd/system/prometheus-vpbx-exporter.service \
    >"$work/security" 2>&1 || true
  echo "systemd-analyze security: $(grep -o 'Overall exposure level.*' "$work/security" || echo '?')"
fi

# ---- configure as an admin would, run as the unit would, scrape, reload
sim_port=$(free_port)
exp_port=$(free_port)
admin_files=1
printf 'package-test-password\n' >/etc/vpbx_exporter/password
printf '71c177e5-7417-4265-b97f-4595016dceb8\n' >/etc/vpbx_exporter/application_id
chgrp vpbx_exporter /etc/vpbx_exporter/password /etc/vpbx_exporter/application_id
chmod 0640 /etc/vpbx_exporter/password /etc/vpbx_exporter/application_id
/usr/bin/vpbx_simulator --web.listen-address="127.0.0.1:$sim_port" --users=3 \
  --password-file=/etc/vpbx_exporter/password --application-id=71c177e5-7417-4265-b97f-4595016dceb8 \
  --users-csv-out=/etc/vpbx_exporter/users.csv >"$work/simulator.log" 2>&1 &
sim_pid=$!
wait_for 30 test -s /etc/vpbx_exporter/users.csv || fail "the installed simulator did not start"
chmod 0644 /etc/vpbx_exporter/users.csv
config=/etc/vpbx_exporter/vpbx_exporter.yml
sed -i -e "s|^  url: .*|  url: http://127.0.0.1:$sim_port/openapi/|" \
  -e 's|^  username: .*|  username: openapi@291908.bus.ent|' \
  -e 's|^  # password_file: .*|  password_file: password|' \
  -e 's|^  # application_id_file: .*|  application_id_file: application_id|' \
  -e 's|^# users_file: .*|users_file: users.csv|' \
  -e 's|^  server: 60s |  server: 1s |' "$config"
printf 'ARGS="--web.listen-address=127.0.0.1:%s"\n' "$exp_port" >/etc/default/prometheus-vpbx-exporter
/usr/bin/vpbx_exporter --config.file="$config" --config.check >"$work/check" 2>&1 ||
  { cat "$work/check"; fail "the edited packaged config does not check"; }
# As ExecStart: the unit's user, its EnvironmentFile's ARGS.
# shellcheck disable=SC1091
. /etc/default/prometheus-vpbx-exporter
# shellcheck disable=SC2086
setpriv --reuid=vpbx_exporter --regid=vpbx_exporter --init-groups -- /usr/bin/vpbx_exporter --config.file="$config" $ARGS >"$work/exporter.log" 2>&1 &
exp_pid=$!
metrics() { curl -sf "http://127.0.0.1:$exp_port/metrics"; }
# has PATTERN: the scrape has a line matching PATTERN (read whole first: grep -q exits early,
# which under pipefail would fail the pipeline).
has() { local text; text=$(metrics) && grep -q -- "$1" <<<"$text"; }
reloaded_after() {
  local text; text=$(metrics) || return 1
  awk -v before="$1" '/^vpbx_config_last_reload_success_timestamp_seconds /{found=1; exit !($2 > before)} END{if(!found) exit 1}' <<<"$text"
}
wait_for 60 has '^vpbx_up 1$' ||
  fail "the installed exporter does not show vpbx_up 1"
wait_for 30 has '^vpbx_user_' ||
  fail "no user metrics"
wait_for 30 test -s /var/lib/vpbx_exporter/state.json || fail "no state file in /var/lib/vpbx_exporter"
[ "$(stat -c %U /var/lib/vpbx_exporter/state.json)" = vpbx_exporter ] || fail "the state file is not the user's"
echo "installed exporter: vpbx_up 1, state file $(stat -c %s /var/lib/vpbx_exporter/state.json) bytes"

sed -i 's|^  server: 1s |  server: 2s |' "$config"
before=$(metrics | sed -n 's/^vpbx_config_last_reload_success_timestamp_seconds //p')
sleep 1.1  # the reload timestamp has whole seconds
kill -HUP "$exp_pid"
wait_for 30 reloaded_after "$before" ||
  fail "SIGHUP did not reload"
has '^vpbx_config_last_reload_successful 1$' || fail "the reload did not succeed"
echo "reload by SIGHUP: applied"
kill -TERM "$exp_pid"
wait "$exp_pid" || fail "the exporter did not stop cleanly (exit $?)"
exp_pid=""
kill "$sim_pid"; wait "$sim_pid" 2>/dev/null || true; sim_pid=""

# ---- purge
dpkg --purge prometheus-vpbx-exporter vpbx-simulator >"$work/purge.log" 2>&1 ||
  { cat "$work/purge.log"; fail "dpkg --purge"; }
# The admin's own files stay (dpkg never removes what it did not install); the conffiles go.
left=$(cd /etc/vpbx_exporter && ls -A | sort | tr '\n' ' ')
[ "$left" = "application_id password users.csv " ] || fail "left in /etc/vpbx_exporter after purge: $left"
rm -rf /etc/vpbx_exporter
for f in /usr/bin/vpbx_exporter /usr/bin/vpbxctl /usr/bin/vpbx_simulator /etc/default/prometheus-vpbx-exporter \
         /usr/share/man/man1/vpbx_exporter.1.gz /usr/share/man/man1/vpbxctl.1.gz \
         /usr/share/man/man1/vpbx_simulator.1.gz \
         /lib/systemd/system/prometheus-vpbx-exporter.service /var/lib/vpbx_exporter /usr/share/vpbx_exporter \
         /etc/systemd/system/multi-user.target.wants/prometheus-vpbx-exporter.service; do
  [ ! -e "$f" ] || fail "$f is left after purge"
done
dpkg-query -W -f='${Status}' prometheus-vpbx-exporter 2>/dev/null | grep -q installed && fail "still installed"
echo "package OK: built, installed, ran, reloaded, purged"
