# leadpipe: `make demo` runs the pipeline on an embedded Kafka and a local
# ClickHouse; `make test` starts the real Kafka broker and ClickHouse and
# runs every test against them. Both install what they need on Debian.

GO        ?= go
BROKERS    = 127.0.0.1:$(or $(KAFKA_PORT),19092)
CLICKHOUSE = 127.0.0.1:$(or $(CLICKHOUSE_PORT),19000)
FUZZTIME  ?= 15s
export LEADPIPE_TEST_BROKERS    ?= $(BROKERS)
export LEADPIPE_TEST_CLICKHOUSE ?= $(CLICKHOUSE)
# the local ClickHouse cluster of scripts/cluster-up.sh: shard 1 on the first two nodes, shard 2 on the third
CLUSTER_BASE = $(or $(CLUSTER_PORT_BASE),19200)
export LEADPIPE_TEST_ZOOKEEPER ?= 127.0.0.1:$(or $(CLUSTER_ZK_PORT),19181)
export LEADPIPE_TEST_CLUSTER ?= 127.0.0.1:$(shell expr $(CLUSTER_BASE) + 1),127.0.0.1:$(shell expr $(CLUSTER_BASE) + 2),127.0.0.1:$(shell expr $(CLUSTER_BASE) + 3)
# the jars scripts/kafka-up.sh fetches: the SASL_SSL test starts a broker of its own with them
export LEADPIPE_TEST_KAFKA_JARS ?= $(or $(LEADPIPE_CACHE),$(HOME)/.cache/leadpipe)/kafka-$(or $(KAFKA_VERSION),4.1.1)/jars

.PHONY: all build demo test test-unit test-cluster services services-down clickhouse cluster cluster-down chdb fuzz bench soak vet clean

all: build

build:
	$(GO) build -o bin/leadpipe ./cmd/leadpipe

## demo: start ClickHouse (installing it if missing), then run the demo on embedded Kafka.
demo: clickhouse build
	./bin/leadpipe demo --clickhouse $(CLICKHOUSE)

## test: start the real Kafka broker, ClickHouse and the local ClickHouse cluster, run every
## test against them, apply the migrations on current ClickHouse (chDB), and fuzz the decoders briefly.
test: services cluster vet
	$(GO) test -count=1 -timeout 30m ./...
	$(MAKE) chdb fuzz

## test-cluster: only the tests of leadpipe on a ClickHouse cluster (ZooKeeper and three
## ClickHouse servers: two shards, the first with two replicas), with Kafka.
test-cluster: services cluster
	$(GO) test -count=1 -timeout 20m -run 'Cluster' ./...

## test-unit: the tests that need no service (Kafka tests use the embedded kfake).
test-unit:
	LEADPIPE_TEST_BROKERS= LEADPIPE_TEST_CLICKHOUSE= $(GO) test -count=1 ./...

services:
	scripts/services-up.sh

services-down:
	scripts/services-down.sh

clickhouse:
	scripts/clickhouse-up.sh

cluster:
	scripts/cluster-up.sh >/dev/null

cluster-down:
	scripts/cluster-down.sh

## chdb: apply every migration on a current ClickHouse engine, in process, as on one server
## and in cluster mode (its replicated tables on the local cluster's ZooKeeper).
chdb: cluster
	python3 -c 'import chdb' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check chdb
	python3 analytics/chdb/apply_migrations.py
	$(GO) run ./cmd/leadpipe migrate --print --clickhouse-cluster leadpipe --clickhouse-db chdb_cluster --marketing-db chdb_cluster_marketing \
		| python3 analytics/chdb/apply_cluster_migrations.py chdb_cluster chdb_cluster_marketing

## fuzz: every decoder of outside bytes, FUZZTIME each (briefly in make test; make fuzz FUZZTIME=10m for long):
## events, TCF consent strings and phone numbers (schemas: NormalizePhone's fast path against the library), state changelog records and classification records (classify, enrich's reader),
## Meta Lead Ads payloads, Segment and RudderStack messages, CSV lists (stages/sources).
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./schemas/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeTCF$$' -fuzztime $(FUZZTIME) ./schemas/
	$(GO) test -run '^$$' -fuzz '^FuzzNormalizePhone$$' -fuzztime $(FUZZTIME) ./schemas/
	$(GO) test -run '^$$' -fuzz '^FuzzRestore$$' -fuzztime $(FUZZTIME) ./stages/classify/
	$(GO) test -run '^$$' -fuzz '^FuzzRecord$$' -fuzztime $(FUZZTIME) ./stages/classify/
	$(GO) test -run '^$$' -fuzz '^FuzzApplyClassification$$' -fuzztime $(FUZZTIME) ./pipeline/adapter/
	$(GO) test -run '^$$' -fuzz '^FuzzFromMeta$$' -fuzztime $(FUZZTIME) ./stages/sources/
	$(GO) test -run '^$$' -fuzz '^FuzzFromCDP$$' -fuzztime $(FUZZTIME) ./stages/sources/
	$(GO) test -run '^$$' -fuzz '^FuzzCSVRows$$' -fuzztime $(FUZZTIME) ./stages/sources/

## vet: go vet, gofmt, staticcheck and deadcode (honnef.co/go/tools, golang.org/x/tools, pinned in go.mod)
## and no tracked file over 1 MiB.
vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { echo "gofmt would change:"; gofmt -l .; exit 1; }
	$(GO) tool staticcheck ./...
	@dead=$$($(GO) tool deadcode -test ./...) || exit 1; \
		test -z "$$dead" || { echo "unreachable code (deadcode -test; delete it):"; echo "$$dead"; exit 1; }
	@big=$$(git ls-files -z 2>/dev/null | xargs -0 -r stat -c '%s %n' 2>/dev/null | awk '$$1 > 1048576 {print $$2}'); \
		test -z "$$big" || { echo "tracked files over 1 MiB (build outputs and data do not go into git):"; echo "$$big"; exit 1; }

## bench: the in-process benchmarks of bench/ on one core, classify's cost per event against the
## length of a lead's history (stages/classify BenchmarkHistory) and the state changelog's codecs
## (BenchmarkStateCodec), phone numbers' fast path against the library (schemas BenchmarkNormalizePhone),
## the TCF decoder against IAB's
## reference in node, then the harness through the real Kafka and ClickHouse, which
## rewrites its section of bench/RESULTS.md (its last scenario starts the local ClickHouse
## cluster if it is down, and stops it after), then end to end with the visitors' consent
## signals on against off.
bench: services build
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1s -count 5 -cpu 1 ./bench/
	$(GO) test -run '^$$' -bench 'BenchmarkHistory|BenchmarkStateCodec' -benchmem -benchtime 1s -count 5 -cpu 1 ./stages/classify/
	$(GO) test -run '^$$' -bench BenchmarkNormalizePhone -benchmem -benchtime 1s -count 5 -cpu 1 ./schemas/
	scripts/tcf-bench.sh
	$(GO) run ./bench/harness --brokers $(BROKERS) --clickhouse $(CLICKHOUSE) --cluster $(LEADPIPE_TEST_CLUSTER)
	scripts/signals-bench.sh

## soak: the three stages as processes at a steady rate for SOAK_DURATION (an hour),
## memory, lag and counts sampled to bench/out/soak/soak.csv and soak.png, then reconciled.
## Not part of make test; the last result goes into RELIABILITY.md.
SOAK_DURATION ?= 1h
SOAK_RATE     ?= 10000
soak: services
	$(GO) run ./bench/soak --brokers $(BROKERS) --clickhouse $(CLICKHOUSE) --duration $(SOAK_DURATION) --rate $(SOAK_RATE)

clean:
	rm -rf bin
