#!/bin/sh
# TCF decode, in process against the reference in node: ROUNDS (5)
# interleaved runs of BenchmarkDecodeTCF (one core, 1 s) and of IAB's
# reference library (@iabtechlabtcf/core, node, 1 s) decoding the same
# strings (bench/testdata/tcf-strings.txt); prints min/median/max ns per
# string of each and the ratio of the medians. Run from the repository's
# root: scripts/tcf-bench.sh
set -eu
rounds=${ROUNDS:-5}
dir=${LEADPIPE_CACHE:-$HOME/.cache/leadpipe}/tcf-bench
mkdir -p "$dir"
cp schemas/testdata/tcf/package.json schemas/testdata/tcf/package-lock.json schemas/testdata/tcf/oracle.mjs "$dir"/
[ -f "$dir/node_modules/@iabtechlabtcf/core/package.json" ] ||
	(cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts >/dev/null)
go test -c -o "$dir/bench.test" ./bench/
strings=$(pwd)/bench/testdata/tcf-strings.txt
: >"$dir/go.txt"
: >"$dir/node.txt"
i=0
while [ "$i" -lt "$rounds" ]; do
	(cd bench && "$dir/bench.test" -test.run '^$' -test.bench '^BenchmarkDecodeTCF$' -test.benchtime 1s -test.cpu 1 -test.benchmem) |
		awk -v allocs="$dir/allocs.txt" '/^BenchmarkDecodeTCF/ {print $3; print $5 " B/op, " $7 " allocs/op" > allocs}' >>"$dir/go.txt"
	node "$dir/oracle.mjs" bench "$strings" 1000 | awk '{print $1}' >>"$dir/node.txt"
	i=$((i + 1))
done
stats() { sort -n "$1" | awk '{v[NR]=$1} END {printf "min %d, median %d, max %d ns/string (%d runs)", v[1], v[int((NR+1)/2)], v[NR], NR}'; }
median() { sort -n "$1" | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
echo "go $(go env GOVERSION), schemas.DecodeTCF: $(stats "$dir/go.txt"); $(cat "$dir/allocs.txt")"
echo "node $(node --version), @iabtechlabtcf/core 1.5.21: $(stats "$dir/node.txt")"
awk -v g="$(median "$dir/go.txt")" -v n="$(median "$dir/node.txt")" 'BEGIN {printf "ratio of the medians: the reference takes %.1f times as long\n", n / g}'
