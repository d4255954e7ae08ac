#!/usr/bin/env bash
# Tests the installed Debian package: files in place, units that
# systemd-analyze accepts, the group, and the installed binaries tracing a
# real target under socket activation (systemd-socket-activate; systemd is
# not PID 1 here) and with sd_notify.
#   tests/package/test_installed.sh TARGET_BINARY
# TARGET_BINARY: a program that calls work() every 2 ms ("slow N" mode),
# e.g. build/tests/targets/probe_target_pie_O2. Needs root and the package
# installed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
target_bin=$1
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

[ "$(id -u)" -eq 0 ] || { echo "skip: needs root"; exit 77; }

step "installed files"
for f in /usr/sbin/probed /usr/bin/probectl /lib/systemd/system/probed.socket \
         /lib/systemd/system/probed.service /etc/probed/probed.conf \
         /usr/share/man/man8/probed.8.gz /usr/share/man/man1/probectl.1.gz \
         /usr/share/man/man5/probed.conf.5.gz \
         /usr/share/bash-completion/completions/probectl; do
    [ -e "$f" ] || fail "missing $f"
done
getent group probed >/dev/null || fail "no group probed"
dpkg-query -W -f='${Conffiles}\n' probed | grep -q /etc/probed/probed.conf ||
    fail "/etc/probed/probed.conf is not a conffile"
grep -q '^ExecStart=/usr/sbin/probed ' /lib/systemd/system/probed.service ||
    fail "ExecStart does not point at the installed binary"

step "systemd-analyze verify"
out=$(systemd-analyze verify /lib/systemd/system/probed.socket /lib/systemd/system/probed.service 2>&1) ||
    fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify is not clean: $out"
echo "clean"
systemd-analyze security --offline=yes /lib/systemd/system/probed.service 2>/dev/null |
    grep 'Overall exposure' || true

step "bash completion"
compl=$(bash -c 'source /usr/share/bash-completion/bash_completion 2>/dev/null || true
    source /usr/share/bash-completion/completions/probectl
    COMP_WORDS=(probectl st); COMP_CWORD=1; COMP_LINE="probectl st"; COMP_POINT=${#COMP_LINE}
    _probectl; echo "${COMPREPLY[*]}"')
[ "$compl" = "status stack stats" ] || fail "completion of 'probectl st' gave '$compl'"

step "sd_notify"
python3 "$here/test_sd_notify.py" /usr/sbin/probed

step "socket activation with systemd-socket-activate"
work=$(mktemp -d /tmp/probed-pkg.XXXXXX)
sock="$work/probed.sock"
"$target_bin" slow 100000 >"$work/target.out" &
target=$!
activator=
# Under set -e a failing command in the EXIT trap would replace the exit
# status: every step here may fail harmlessly.
cleanup() {
    if [ -n "$activator" ]; then kill "$activator" 2>/dev/null || true; wait "$activator" 2>/dev/null || true; fi
    kill "$target" 2>/dev/null || true
    wait "$target" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
systemd-socket-activate -l "$sock" /usr/sbin/probed --log-level debug 2>"$work/probed.log" &
activator=$!
for _ in $(seq 500); do [ -S "$sock" ] && break; sleep 0.01; done
[ -S "$sock" ] || fail "systemd-socket-activate did not listen on $sock"
until grep -q ready "$work/target.out"; do sleep 0.01; done
export PROBED_SOCKET="$sock"
# The first connection starts probed, which takes the passed socket.
lines=$(probectl --no-autostart --json attach "$target" work --count 5) ||
    fail "probectl attach failed: $(cat "$work/probed.log")"
n=$(grep -c '"retval"' <<<"$lines") || true
[ "$n" -eq 5 ] || fail "expected 5 calls, got: $lines"
grep -q 'passed by the service manager' "$work/probed.log" ||
    fail "probed did not use the passed socket: $(cat "$work/probed.log")"
status=$(probectl --no-autostart --json status)
grep -q "\"socket\":\"$sock\"" <<<"$status" || fail "status: $status"
echo "$n calls traced through the activated daemon; $status"
kill -TERM "$activator"
wait "$activator" || fail "probed did not exit cleanly on SIGTERM"
activator=
kill -0 "$target" || fail "the target died"
grep -q 'detached from pid\|stopped' "$work/probed.log" || fail "no clean shutdown in the log"
echo "ok: installed package works"
