#!/usr/bin/env bash
# it_fuzz_replay.sh — replays every committed fuzz corpus (fuzz/corpus/<t>/)
# through its target built without libFuzzer (under ASan/UBSan in `make
# check`).  One TAP line per target: a crash, sanitizer report or a target
# without a corpus fails it.
set -u
src=${QKDLAB_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
build=${QKDLAB_BUILD:-$src/build}
n=0 failed=0
for bin in "$build"/fuzz/replay_*; do
	[ -x "$bin" ] || continue
	t=${bin##*/replay_}
	n=$((n + 1))
	corpus="$src/fuzz/corpus/$t"
	if [ ! -d "$corpus" ] || [ -z "$(ls -A "$corpus")" ]; then
		echo "not ok $n - $t: no corpus in fuzz/corpus/$t"
		failed=1
		continue
	fi
	out=$("$bin" "$corpus" 2>&1)
	rc=$?
	count=$(printf '%s\n' "$out" | grep -c '^ok ')
	if [ $rc -eq 0 ]; then
		echo "ok $n - $t: $count inputs replayed cleanly"
	else
		echo "not ok $n - $t: exit $rc"
		printf '%s\n' "$out" | grep -v '^ok ' | tail -n 30 | sed 's/^/# /'
		failed=1
	fi
done
echo "1..$n"
[ $n -gt 0 ] && [ $failed -eq 0 ]
