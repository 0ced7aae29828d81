package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	auditv1 "steward.dev/gen/steward/audit/v1"
	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
	"steward.dev/services/audit/ledger"
)

// cliFixture is a log of 20 events with a checkpoint at 15, and the files
// `steward-audit verify` reads: the export of all 20 events, the checkpoint
// (note text and JSON), the verifier key (text and JSON) and the leaf hashes.
type cliFixture struct {
	dir    string
	events []*auditv1.AuditEvent
	vkey   string
}

func newCLIFixture(t *testing.T) *cliFixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := bboltstore.Open(filepath.Join(dir, "audit.db"), bboltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	signer, _, vkey, err := ledger.LoadSigner(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	l := ledger.New(st, signer)
	const log = "organizations/o1"
	fx := &cliFixture{dir: dir, vkey: vkey}
	appendEvents := func(from, to int64) {
		err := st.Update(ctx, func(tx store.Tx) error {
			for i := from; i < to; i++ {
				ev := &auditv1.AuditEvent{
					Name: fmt.Sprintf("%s/auditEvents/%d", log, i), Index: i, Source: "directory",
					Action: "CreateUser", Actor: log + "/users/ann", Target: fmt.Sprintf("%s/users/u%d", log, i),
					Message: fmt.Sprintf("User u%d was created.", i), Organization: "o1",
				}
				leaf, err := ledger.Leaf(ev)
				if err != nil {
					return err
				}
				if _, err := l.Append(tx, log, leaf); err != nil {
					return err
				}
				fx.events = append(fx.events, ev)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	appendEvents(0, 15)
	cp, err := l.Checkpoint(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	appendEvents(15, 20)
	var hashes bytes.Buffer
	if err := l.WriteLeafHashes(ctx, log, cp.Size, &hashes); err != nil {
		t.Fatal(err)
	}
	cpJSON, _ := protojson.Marshal(&auditv1.Checkpoint{Origin: cp.Origin, TreeSize: cp.Size, RootHash: cp.Root[:], SignedNote: string(cp.Note)})
	keyJSON, _ := protojson.Marshal(&auditv1.AuditPublicKey{VerifierKey: vkey})
	fx.write(t, "checkpoint.txt", cp.Note)
	fx.write(t, "checkpoint-crlf.txt", append(bytes.ReplaceAll(cp.Note, []byte("\n"), []byte("\r\n")), "\r\n"...))
	fx.write(t, "checkpoint.json", cpJSON)
	fx.write(t, "key.txt", []byte(vkey+"\n"))
	fx.write(t, "key.json", keyJSON)
	fx.write(t, "hashes.bin", hashes.Bytes())
	fx.writeExport(t, "export.jsonl", fx.events)
	return fx
}

func (fx *cliFixture) path(name string) string { return filepath.Join(fx.dir, name) }

func (fx *cliFixture) write(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(fx.path(name), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (fx *cliFixture) writeExport(t *testing.T, name string, evs []*auditv1.AuditEvent) {
	t.Helper()
	var buf bytes.Buffer
	for _, ev := range evs {
		b, err := protojson.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	fx.write(t, name, buf.Bytes())
}

// TestR28VerifyCommand runs `steward-audit verify` on an export, untouched
// and tampered with, and checks its exit status and its line.
func TestR28VerifyCommand(t *testing.T) {
	fx := newCLIFixture(t)
	edited := append([]*auditv1.AuditEvent(nil), fx.events...)
	ev := proto.CloneOf(edited[7])
	ev.Actor = "organizations/o1/users/mallory"
	edited[7] = ev
	fx.writeExport(t, "edited.jsonl", edited)
	deleted := append(append([]*auditv1.AuditEvent(nil), fx.events[:4]...), fx.events[5:]...)
	fx.writeExport(t, "deleted.jsonl", deleted)
	fx.writeExport(t, "truncated.jsonl", fx.events[:12])
	fx.writeExport(t, "purged.jsonl", fx.events[6:15]) // events 0-5 purged by retention

	cp, key, hashes := fx.path("checkpoint.txt"), fx.path("key.txt"), fx.path("hashes.bin")
	for _, tc := range []struct {
		name   string
		args   []string
		status int
		out    string // prefix of stdout
		errOut string // substring of stderr
	}{
		{"ok", []string{"-checkpoint", cp, "-key", fx.vkey, fx.path("export.jsonl")}, 0,
			"OK: 15 events verified against checkpoint of size 15 (origin steward.dev/audit/organizations/o1); 5 later events are not covered by it", ""},
		{"ok, JSON files", []string{"-checkpoint", fx.path("checkpoint.json"), "-key-file", fx.path("key.json"), fx.path("export.jsonl")}, 0, "OK: 15 events", ""},
		{"ok, key file, CRLF checkpoint", []string{"-checkpoint", fx.path("checkpoint-crlf.txt"), "-key-file", key, fx.path("export.jsonl")}, 0, "OK: 15 events", ""},
		{"ok, with hashes", []string{"-checkpoint", cp, "-key", fx.vkey, "-hashes", hashes, fx.path("export.jsonl")}, 0, "OK: 15 events", ""},
		{"edited", []string{"-checkpoint", cp, "-key", fx.vkey, fx.path("edited.jsonl")}, 1, "FAIL at index 0: the events do not make the checkpoint's root", ""},
		{"edited, with hashes", []string{"-checkpoint", cp, "-key", fx.vkey, "-hashes", hashes, fx.path("edited.jsonl")}, 1, "FAIL at index 7: event 7 is not the one", ""},
		{"deleted", []string{"-checkpoint", cp, "-key", fx.vkey, fx.path("deleted.jsonl")}, 1, "FAIL at index 4: the event at position 4 of the file carries index 5", ""},
		{"truncated", []string{"-checkpoint", cp, "-key", fx.vkey, fx.path("truncated.jsonl")}, 1, "FAIL at index 12: the file ends after 12 events", ""},
		{"after a purge, with hashes", []string{"-checkpoint", cp, "-key", fx.vkey, "-hashes", hashes, fx.path("purged.jsonl")}, 0,
			"OK: 9 events verified against checkpoint of size 15 (origin steward.dev/audit/organizations/o1); the 6 events before them were purged by retention", ""},
		{"after a purge, without hashes", []string{"-checkpoint", cp, "-key", fx.vkey, fx.path("purged.jsonl")}, 1, "FAIL at index 0: the file begins at event 6", ""},
		{"wrong key", []string{"-checkpoint", cp, "-key", "steward-audit+01234567+AeR3kOm8g1bCs4G4ZWVTG4JMpZ1ZvMuTnUHVAbVgtoxy", fx.path("export.jsonl")}, 1, "FAIL: checkpoint refused", ""},
		{"no key", []string{"-checkpoint", cp, fx.path("export.jsonl")}, 2, "", "exactly one of -key and -key-file"},
		{"two keys", []string{"-checkpoint", cp, "-key", fx.vkey, "-key-file", key, fx.path("export.jsonl")}, 2, "", "exactly one"},
		{"no checkpoint", []string{"-key", fx.vkey, fx.path("export.jsonl")}, 2, "", "-checkpoint is required"},
		{"no export", []string{"-checkpoint", cp, "-key", fx.vkey}, 2, "", "want one export file"},
		{"missing export", []string{"-checkpoint", cp, "-key", fx.vkey, fx.path("nope.jsonl")}, 2, "", "no such file"},
		{"bad flag", []string{"-nope"}, 2, "", "flag provided but not defined"},
		{"help", []string{"-help"}, 0, "", "usage: steward-audit verify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			status := runVerify(tc.args, strings.NewReader(""), &stdout, &stderr)
			if status != tc.status || !strings.HasPrefix(stdout.String(), tc.out) || !strings.Contains(stderr.String(), tc.errOut) {
				t.Fatalf("status %d, stdout %q, stderr %q; want %d, %q, %q", status, stdout.String(), stderr.String(), tc.status, tc.out, tc.errOut)
			}
		})
	}

	// Standard input.
	export, err := os.ReadFile(fx.path("export.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if status := runVerify([]string{"-checkpoint", cp, "-key", fx.vkey, "-"}, bytes.NewReader(export), &stdout, &stderr); status != 0 {
		t.Fatalf("stdin: status %d, %s %s", status, stdout.String(), stderr.String())
	}
}
