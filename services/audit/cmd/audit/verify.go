package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"

	auditv1 "steward.dev/gen/steward/audit/v1"
	"steward.dev/services/audit/ledger"
)

// Exit statuses of `steward-audit verify`.
const (
	exitVerified = 0 // every event the checkpoint covers verified
	exitFailed   = 1 // the check failed: the export or the checkpoint is not authentic
	exitUsage    = 2 // the check could not run: bad flags, unreadable file
)

const verifyUsage = `usage: steward-audit verify -checkpoint FILE (-key VERIFIERKEY | -key-file FILE) [-hashes FILE] EXPORT.jsonl

Checks, offline, an organization's audit events exported as JSON lines
(ExportAuditEvents, unfiltered) against a checkpoint signed by the audit
service (GetAuditCheckpoint), whose signature must verify with the service's
verifier key (GetAuditPublicKey). Any edited, deleted, reordered or inserted
event, and any truncation, fails. An event deleted, inserted or moved, or a
truncation, is named exactly from the file; an edit that keeps every index in
place is named exactly only with -hashes (the log's leaf hashes, checked
against the signed root before use). Fetch the checkpoint before exporting:
events after the checkpoint's size are read but not covered by it. An export
of a log whose oldest events were purged by retention begins after them; it
verifies only with -hashes, whose first hashes stand in for the purged events.
Fetch the hashes with ExportLeafHashes
(GET /v1/organizations/{o}/auditEvents:leafHashes).

EXPORT.jsonl may be "-" for standard input. Exit status: 0 verified, 1 failed,
2 could not run.

`

// runVerify runs `steward-audit verify` with args (the ones after "verify")
// and returns its exit status. It prints "OK: ..." or "FAIL at index I: ..."
// to stdout, and problems that keep it from checking to stderr.
func runVerify(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("steward-audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, verifyUsage)
		fs.PrintDefaults()
	}
	checkpointFile := fs.String("checkpoint", "", "`file` holding the signed checkpoint: its note text, or GetAuditCheckpoint's JSON")
	keyText := fs.String("key", "", "the audit service's verifier `key`, \"steward-audit+<hash>+<key>\"")
	keyFile := fs.String("key-file", "", "`file` holding the verifier key, as text or GetAuditPublicKey's JSON")
	hashesFile := fs.String("hashes", "", "optional `file` of the log's leaf hashes, 32 bytes each, to name the first edited event")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitVerified
		}
		return exitUsage
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "steward-audit verify: "+format+"\n", a...)
		fs.Usage()
		return exitUsage
	}
	if fs.NArg() != 1 {
		return usage("want one export file, got %d", fs.NArg())
	}
	if *checkpointFile == "" {
		return usage("-checkpoint is required")
	}
	if (*keyText == "") == (*keyFile == "") {
		return usage("give exactly one of -key and -key-file")
	}
	cant := func(err error) int {
		fmt.Fprintf(stderr, "steward-audit verify: %v\n", err)
		return exitUsage
	}

	b, err := os.ReadFile(*checkpointFile)
	if err != nil {
		return cant(err)
	}
	checkpointNote, err := readCheckpoint(b)
	if err != nil {
		return cant(fmt.Errorf("%s: %w", *checkpointFile, err))
	}
	key := *keyText
	if *keyFile != "" {
		b, err := os.ReadFile(*keyFile)
		if err != nil {
			return cant(err)
		}
		if key, err = readKey(b); err != nil {
			return cant(fmt.Errorf("%s: %w", *keyFile, err))
		}
	}
	var hashes io.Reader
	if *hashesFile != "" {
		f, err := os.Open(*hashesFile)
		if err != nil {
			return cant(err)
		}
		defer f.Close()
		hashes = f
	}
	export := stdin
	if name := fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return cant(err)
		}
		defer f.Close()
		export = f
	}

	res, err := ledger.VerifyExport(export, checkpointNote, key, hashes)
	if err != nil {
		return cant(err)
	}
	fmt.Fprintln(stdout, formatResult(res))
	if !res.OK {
		return exitFailed
	}
	return exitVerified
}

// formatResult is the line runVerify prints.
func formatResult(res ledger.Result) string {
	if res.OK {
		s := fmt.Sprintf("OK: %d events verified against checkpoint of size %d (origin %s)", res.Checked-res.Uncovered-res.Purged, res.Checkpoint.Size, res.Checkpoint.Origin)
		if res.Purged > 0 {
			s += fmt.Sprintf("; the %d events before them were purged by retention: their leaf hashes make the signed root", res.Purged)
		}
		if res.Uncovered > 0 {
			s += fmt.Sprintf("; %d later events are not covered by it", res.Uncovered)
		}
		return s
	}
	if res.FirstFailed < 0 {
		return "FAIL: " + res.Reason
	}
	return fmt.Sprintf("FAIL at index %d: %s", res.FirstFailed, res.Reason)
}

// readCheckpoint returns the signed note held in a checkpoint file: the note
// text itself, or a Checkpoint in protojson form (GetAuditCheckpoint through
// the gateway) whose signed_note it takes. Carriage returns and trailing
// blank lines a download or an editor may add are dropped.
func readCheckpoint(b []byte) ([]byte, error) {
	if t := bytes.TrimSpace(b); bytes.HasPrefix(t, []byte("{")) {
		var cp auditv1.Checkpoint
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(t, &cp); err != nil {
			return nil, fmt.Errorf("not a checkpoint: %w", err)
		}
		b = []byte(cp.GetSignedNote())
	}
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	b = bytes.TrimRight(b, " \t\n")
	if len(b) == 0 {
		return nil, errors.New("empty checkpoint")
	}
	return append(b, '\n'), nil
}

// readKey returns the verifier key held in a key file: the key text, or an
// AuditPublicKey in protojson form (GetAuditPublicKey through the gateway).
func readKey(b []byte) (string, error) {
	t := bytes.TrimSpace(b)
	if bytes.HasPrefix(t, []byte("{")) {
		var k auditv1.AuditPublicKey
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(t, &k); err != nil {
			return "", fmt.Errorf("not a verifier key: %w", err)
		}
		t = []byte(strings.TrimSpace(k.GetVerifierKey()))
	}
	if len(t) == 0 {
		return "", errors.New("empty verifier key")
	}
	return string(t), nil
}
