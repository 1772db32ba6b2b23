package workload

import (
	"math/bits"
	"math/rand/v2"
)

// The helpers below draw from a PCG with integer arithmetic only, so that the
// bytes a seed gives do not depend on the CPU's floating-point unit (no
// math.Log, no fused multiply-add): the same seed gives the same corpus on
// amd64 and arm64 alike.

// mix64 is the SplitMix64 finaliser; it derives independent stream seeds.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// intn returns a number in [0, n); n must be positive.
func intn(r *rand.PCG, n int) int {
	hi, _ := bits.Mul64(r.Uint64(), uint64(n))
	return int(hi)
}

// int64n returns a number in [0, n), or 0 when n is not positive.
func int64n(r *rand.PCG, n int64) int64 {
	if n <= 0 {
		return 0
	}
	hi, _ := bits.Mul64(r.Uint64(), uint64(n))
	return int64(hi)
}

// between returns a number in [lo, hi), or lo when the range is empty.
func between(r *rand.PCG, lo, hi int64) int64 {
	return lo + int64n(r, hi-lo)
}

// threshold turns a probability into the integer bound chance compares with.
func threshold(p float64) uint64 {
	switch {
	case p <= 0:
		return 0
	case p >= 1:
		return 1 << 53
	}
	return uint64(p * (1 << 53))
}

// percent reports true with probability pct/100.
func percent(r *rand.PCG, pct int) bool {
	return intn(r, 100) < pct
}

// pick returns a uniformly chosen element of xs.
func pick[T any](r *rand.PCG, xs []T) T {
	return xs[intn(r, len(xs))]
}

// weighted returns index i with probability ws[i]/sum(ws).
func weighted(r *rand.PCG, ws []int) int {
	total := 0
	for _, w := range ws {
		total += w
	}
	n := intn(r, total)
	for i, w := range ws {
		if n < w {
			return i
		}
		n -= w
	}
	return len(ws) - 1
}

const alnum = "abcdefghijklmnopqrstuvwxyz0123456789"
const b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
const hexdigits = "0123456789abcdef"

// appendRandom appends n characters drawn from alphabet.
func appendRandom(b []byte, r *rand.PCG, alphabet string, n int) []byte {
	for range n {
		b = append(b, alphabet[intn(r, len(alphabet))])
	}
	return b
}

// appendDigits appends n decimal digits.
func appendDigits(b []byte, r *rand.PCG, n int) []byte {
	return appendRandom(b, r, "0123456789", n)
}
