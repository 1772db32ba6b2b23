// Package pipeline is the runtime that feeds leadpipe's stages and observes
// them: it consumes records with kafka-go consumer groups, hands each one to
// a stage, writes the stage's outputs (Kafka topics, the dead-letter topic,
// and through a stage's Flush, ClickHouse), and only then commits the
// offsets. It keeps the metrics and the health endpoints, and follows
// compacted topics into memory for the stages that restore state from them
// (Follower).
//
// The runtime is generic: it imports nothing of leadpipe's stages. The
// three stages as it runs them are in pipeline/adapter, and pipeline/wire
// builds them from their settings for `leadpipe run`, `leadpipe demo` and
// the benchmark harness.
//
// The stages decide; the runtime does the I/O. A stage never commits, never
// logs personal data and never writes to the dead-letter topic itself: it
// returns an error and the runtime dead-letters the record with its
// provenance.
package pipeline
