// Package stages holds what each stage of leadpipe decides, as pure
// functions from an event and state to a result: no Kafka, no ClickHouse,
// no logging. The runtime in package pipeline feeds them records, writes
// what they return, and commits; one adapter per stage
// (pipeline/adapter) joins the two. This file is documentation only:
// the stages live in the subpackages below.
//
// The stages, in the order a record flows through them:
//
//  1. classify (stages/classify; adapter pipeline/adapter/classify.go).
//     Consumes leads.raw and consents.raw. For each lead or consent event
//     it decides the lead's origin, the legal basis of every purpose with
//     its evidence, and a decision (accepted, quarantined, suppressed,
//     erased, or no_lead for a consent whose lead is not seen yet) under
//     the policy in policy.yaml. Its output goes to leads.classified, or to
//     leads.quarantine when quarantined, plus one audit record per event to
//     leadpipe.audit and its state changes to the compacted leadpipe.state.
//     The offline tool `leadpipe classify` runs the same Engine.
//
//  2. enrich (stages/enrich; adapter pipeline/adapter/enrich.go). Consumes
//     behavior.raw, and follows leads.classified and leads.quarantine as a
//     table of each lead's recent classifications. Each behavior event gets
//     the origin channel and decision of its lead at the event's time, a
//     daily visitor pseudonym, and the lead key only while the lead was
//     accepted with a basis for profiling; anonymous visitors and unknown
//     leads stay anonymous. The result goes to behavior.enriched.
//
//  3. sink (stages/sink; adapter pipeline/adapter/sink.go, writer in
//     package analytics). Consumes leads.classified, leads.quarantine,
//     behavior.enriched and leadpipe.audit, and turns each record into a
//     row of classifications, behavior_events or decisions in ClickHouse.
//     Materialized views derive leads and the aggregates from those rows.
//
// stages/pseudonym is not a stage: it computes the HMAC-SHA256 keys (lead,
// email, visitor) that classify and enrich put in place of identifiers.
// Nor is stages/sources: it turns a platform's lead payloads (Meta Lead
// Ads) into lead events before they reach leads.raw (`leadpipe import`).
package stages
