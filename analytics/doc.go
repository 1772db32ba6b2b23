// Package analytics owns leadpipe's ClickHouse side: the versioned schema
// (migrations/), the row structs that mirror its tables, the writer the
// sink stage uses, and the queries marketers run.
//
// Everything here is pseudonymous by construction: rows carry HMAC keys
// and their key version, never an email, phone, name or raw lead id.
package analytics
