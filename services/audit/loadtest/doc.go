// Package loadtest measures audit at the scale of issue 12's quality bars
// (R28, R29) over one store of STEWARD_AUDIT_LOAD events (1,000,000 for the
// figures in BENCHMARKS.md), built once: searches by actor (latency
// percentiles, in the domain and through gRPC), exports (rows per second
// and resident memory) and VerifyAuditLog. Its tests skip unless
// STEWARD_AUDIT_LOAD is set (`make bench-audit`); they report figures and
// assert only correctness, never timings.
package loadtest
