// Package bench holds leadpipe's benchmarks and the seeded workload
// (bench/workload) they run on. Results, with the commands that produced
// them, are in bench/RESULTS.md. Speed is measured here, never asserted in
// a test.
package bench
