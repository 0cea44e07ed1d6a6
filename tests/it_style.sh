#!/usr/bin/env bash
# it_style.sh — the tree keeps one house style (TAP):
#   1. every C file is as clang-format (with .clang-format) would lay it out;
#   2. code and docs cite the standard or the invariant, never a finding or
#      issue number (history goes to CHANGES.md and commit messages).
set -u
cd "$(dirname "$0")/.."
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
nok() { n=$((n + 1)); echo "not ok $n - $*"; }

if ! command -v clang-format >/dev/null; then
	echo "1..0 # SKIP clang-format is not installed (scripts/deps installs it)"
	exit 0
fi
mapfile -t files < <(git ls-files '*.c' '*.h' 2>/dev/null | grep -v '^tests/vectors/' ||
	find . -name '*.[ch]' -not -path './build/*' -not -path './tests/vectors/*' | sed 's|^\./||')
echo "1..$((${#files[@]} + 1))"
for f in "${files[@]}"; do
	if d=$(clang-format --style=file "$f" | diff -u "$f" -); then
		ok "$f is laid out as .clang-format says"
	else
		nok "$f is laid out as .clang-format says (run: clang-format -i $f)"
		printf '%s\n' "$d" | head -n 20 | sed 's/^/#   /'
	fi
done
hits=$(grep -rnIE '\bS-[0-9]{1,3}\b|\bissue #?[0-9]+\b|\bfinding [0-9]+' \
	--include='*.c' --include='*.h' --include='*.py' --include='*.sh' \
	--include='*.md' --include='*.[158]' --include='*.mk' \
	--exclude=CHANGES.md --exclude-dir=build --exclude-dir=.git \
	--exclude-dir=corpus . | grep -v '^./tests/it_style.sh:' | head -n 10)
if [ -z "$hits" ]; then
	ok "no finding or issue numbers in code, man pages or docs"
else
	nok "no finding or issue numbers in code, man pages or docs"
	printf '%s\n' "$hits" | sed 's/^/#   /'
fi
