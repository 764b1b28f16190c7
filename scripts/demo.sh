#!/usr/bin/env bash
# A real deadlock, caught: start a program whose two threads lock two mutexes
# in opposite order, let tangle attach after the hang (as a user would), and
# show what it reports. Usage: scripts/demo.sh TANGLE FIXTURES_DIR
set -euo pipefail
TANGLE=${1:?tangle binary}
FIX=${2:?fixtures dir}

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: tangle loads BPF programs; run it as root: sudo make demo" >&2
	exit 1
fi

out=$(mktemp)
"$FIX/stuck_abba" --timeout 60 > "$out" &
victim=$!
trap 'kill $victim 2>/dev/null || true; rm -f "$out"' EXIT

# wait until the fixture says its threads are deadlocked
for _ in $(seq 100); do
	grep -q '"phase":"stuck"' "$out" && break
	sleep 0.1
done
grep -q '"phase":"stuck"' "$out" || { echo "demo: the fixture did not deadlock" >&2; exit 1; }

echo "== a program (pid $victim) whose threads lock lock_a/lock_b in opposite order is hung."
echo "== tangle attaches now, after the fact:"
echo "\$ sudo tangle check -p $victim"
set +e
"$TANGLE" check -p "$victim"
rc=$?
set -e
echo "(exit status $rc: 2 means stuck threads were found)"
echo
echo "== the same as NDJSON, for machines:"
echo "\$ sudo tangle check --json -p $victim | jq -c 'select(.type==\"stuck_group\") | {kind, members: [.members[] | {tid, waits_on: .waits_on.symbol, owner: .waits_on.owner_tid}]}'"
"$TANGLE" check --json -p "$victim" |
	jq -c 'select(.type=="stuck_group") | {kind, members: [.members[] | {tid, waits_on: .waits_on.symbol, owner: .waits_on.owner_tid}]}' || true
echo
echo "== live: 'sudo tangle' opens the dashboard (press 4 for stuck groups, ? for keys)"
[ "$rc" -eq 2 ]
