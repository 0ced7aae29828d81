// Package loadtest measures audit at the scale of issue 12's quality bars
// (R28, R29) over one store of STEWARD_AUDIT_LOAD events (1,000,000 for the
// figures in BENCHMARKS.md), built once: searches by actor (latency
// percentiles, in the domain and through gRPC), exports (rows per second
// and resident memory) and VerifyAuditLog. Without STEWARD_AUDIT_LOAD
// (`make test`) they run as a smoke test over 2,000 events, to prove the
// harness works; `make bench-audit` sets it. They report figures and assert
// only correctness, never timings.
package loadtest
