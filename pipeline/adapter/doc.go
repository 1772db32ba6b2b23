// Package adapter holds leadpipe's three stages as the runtime (package
// pipeline) runs them: Classify, Enrich and Sink. Each adapts a pure
// decision package of stages/ to Kafka and ClickHouse: it decodes the
// records the runtime hands it, calls the engine, and adds the outputs to
// the batch. The runtime knows nothing of leads; the engines know nothing
// of Kafka; package wire builds these adapters from their settings.
package adapter
