#!/bin/sh
# Static analysis of plugin/ and mapping/: clang-tidy with the checked-in
# .clang-tidy (its comments say what is left out and why) over the build's
# compile_commands.json, then cppcheck. Any finding fails the script; a line
# may be suppressed inline with its reason: `/* NOLINT(check): why */` or
# `/* cppcheck-suppress id ; why */` on the line before.
#   scripts/lint.sh [file.c...]   (default: every .c of plugin/ and mapping/)
set -eu
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
# generated headers, if any, exist before clang-tidy reads the sources
cmake --build build -j"$(nproc)" --target wsgw_pure >/dev/null
files=${*:-$(ls plugin/*.c mapping/*.c)}
fail=0

echo "== lint: clang-tidy ($(clang-tidy --version | sed -n 's/.*LLVM version \([0-9.]*\).*/\1/p'))"
out=$(mktemp)
if ! printf '%s\n' $files | xargs -P "$(nproc)" -n 4 clang-tidy -p build --quiet >"$out" 2>&1; then
	fail=1
fi
# the findings alone, one line each (file:line:col: warning/error: text [check])
grep -E '^[^ ]+:[0-9]+:[0-9]+: (warning|error):' "$out" | sort -u || true
grep -qE '^[^ ]+:[0-9]+:[0-9]+: (warning|error):' "$out" && fail=1
rm -f "$out"

echo "== lint: cppcheck ($(cppcheck --version))"
# uthash (a header of macros) is read so that HASH_* parse; system headers are not.
# normalCheckLevelMaxBranches: cppcheck 2.11 and later (Debian 13) say so for
# every file where they cut the branches they follow (a notice, not a finding:
# it made them exit 1); --check-level=exhaustive is unknown to 2.10 (Debian 12).
cppcheck -q -j"$(nproc)" --std=c11 -D_GNU_SOURCE -D__linux__ -I mapping -I plugin \
	--include="$(echo '#include <uthash.h>' | cpp -H -o /dev/null 2>&1 | sed -n 's/^\. //p' | head -n 1)" \
	--enable=warning,portability,performance --inline-suppr --suppress=missingIncludeSystem --suppress=normalCheckLevelMaxBranches \
	--error-exitcode=1 --template='{file}:{line}: {severity}: {message} [{id}]' $files || fail=1

if [ "$fail" -ne 0 ]; then
	echo "lint: FAILED (fix, or suppress inline with the reason)"
	exit 1
fi
echo "lint: no finding"
