package domain

import (
	"bytes"
	"context"
	"encoding/csv"
	"testing"
)

// Issue 9 item 8 (R19): a cell a spreadsheet would read as a formula gets
// a leading single quote (OWASP, CSV injection); others are kept.
func TestNeutralizeCSVCell(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"Finance", "Finance"},
		{"=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"},
		{"+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"},
		{"-2+3", "'-2+3"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\t=1", "'\t=1"},
		{"\r=1", "'\r=1"},
		{"a=1", "a=1"},
		{" =1", " =1"},
		{"'=1", "'=1"},
		{"organizations/o1", "organizations/o1"},
	} {
		if got := neutralizeCSVCell(tc.in); got != tc.want {
			t.Errorf("neutralizeCSVCell(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// Every column of the export goes through the neutralization, and the
// record read back holds the quoted text (encoding/csv keeps separators,
// quotes and line breaks inside their cell).
func TestExportRowNeutralizesEveryColumn(t *testing.T) {
	for _, lead := range []string{"=", "+", "-", "@", "\t", "\r"} {
		var out bytes.Buffer
		x := &exporter{ctx: context.Background(), emit: func(b []byte) error { out.Write(b); return nil }}
		x.w = csv.NewWriter(&x.buf)
		rec := make([]string, len(ExportColumns))
		for i := range rec {
			rec[i] = lead + "cmd|' /C calc'!A0,\"x\"\n" + ExportColumns[i]
		}
		if err := x.row(ExportColumns); err != nil {
			t.Fatal(err)
		}
		if err := x.row(rec); err != nil {
			t.Fatal(err)
		}
		if err := x.flush(true); err != nil {
			t.Fatal(err)
		}
		records, err := csv.NewReader(&out).ReadAll()
		if err != nil {
			t.Fatalf("lead %q: %v", lead, err)
		}
		if len(records) != 2 {
			t.Fatalf("lead %q: %d records", lead, len(records))
		}
		for i, got := range records[1] {
			if want := "'" + rec[i]; got != want {
				t.Errorf("lead %q, column %s: %q, want %q", lead, ExportColumns[i], got, want)
			}
		}
		for i, h := range records[0] {
			if h != ExportColumns[i] {
				t.Errorf("header %d = %q", i, h)
			}
		}
	}
}
