#!/bin/sh
# End to end with the visitors' consent signals on against off: ROUNDS (7)
# rounds of the harness's e2e scenario (one run each, LEADS leads, 8000),
# with and without --no-signals, the order alternating round by round;
# prints min/median/max events/s of each, the ratio of the medians and the
# paired ratios. Off is the pipeline as before issue 26: no consent object
# on behavior, enrich's unknown allowing analytics and profiling. Needs the
# services of make test. Run from the repository's root:
# scripts/signals-bench.sh
set -eu
rounds=${ROUNDS:-7}
leads=${LEADS:-8000}
dir=${LEADPIPE_CACHE:-$HOME/.cache/leadpipe}/signals-bench
mkdir -p "$dir"
go build -o "$dir/harness" ./bench/harness
rate() { "$dir/harness" --only e2e --runs 1 --leads "$leads" --out '' "$@" 2>&1 | sed -nE 's/.*run 1 leadpipe: .* ([0-9]+) events\/s/\1/p'; }
: >"$dir/runs.txt"
i=1
while [ "$i" -le "$rounds" ]; do
	if [ $((i % 2)) -eq 1 ]; then
		on=$(rate); off=$(rate --no-signals)
	else
		off=$(rate --no-signals); on=$(rate)
	fi
	echo "$i $on $off" | tee -a "$dir/runs.txt"
	i=$((i + 1))
done
awk '{on[NR]=$2; off[NR]=$3; p[NR]=$2/$3}
function sort3(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t } }
END {
	n = NR; sort3(on, n); sort3(off, n); sort3(p, n); m = int((n+1)/2)
	printf "signals on: min %d, median %d, max %d events/s\n", on[1], on[m], on[n]
	printf "signals off: min %d, median %d, max %d events/s\n", off[1], off[m], off[n]
	printf "ratio of the medians %.2f; paired per round min %.2f, median %.2f, max %.2f\n", on[m]/off[m], p[1], p[m], p[n]
}' "$dir/runs.txt"
