package bench

import (
	"os"
	"strings"
	"testing"

	"github.com/leadpipe/leadpipe/schemas"
)

// BenchmarkDecodeTCF is schemas.DecodeTCF on the 300 TC strings of
// testdata/tcf-strings.txt, one string per op. scripts/tcf-bench.sh runs
// it interleaved with IAB's reference library decoding the same strings
// in node, and prints the ratio (bench/RESULTS.md, "TCF decode, in process
// vs the reference in node").
func BenchmarkDecodeTCF(b *testing.B) {
	raw, err := os.ReadFile("testdata/tcf-strings.txt")
	if err != nil {
		b.Fatal(err)
	}
	var strs []string
	for _, line := range strings.Split(string(raw), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			strs = append(strs, line)
		}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := schemas.DecodeTCF(strs[i%len(strs)]); err != nil {
			b.Fatal(err)
		}
	}
}
