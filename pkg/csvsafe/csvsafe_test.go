package csvsafe

import (
	"bytes"
	"encoding/csv"
	"testing"
)

// R19, R29: a cell a spreadsheet would read as a formula gets a leading
// single quote (OWASP, CSV injection); others are kept.
func TestNeutralize(t *testing.T) {
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
	} {
		if got := Neutralize(tc.in); got != tc.want {
			t.Errorf("Neutralize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// Every cell of a record is neutralized, and reading the CSV back gives
// the quoted text, separators and line breaks kept inside their cell.
func TestWriter(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	in := []string{"=1+1", "a,b", "line\nbreak", "@x", "plain"}
	if err := w.Write(in); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	got, err := csv.NewReader(&buf).Read()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"'=1+1", "a,b", "line\nbreak", "'@x", "plain"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("cell %d = %q, want %q", i, got[i], want[i])
		}
	}
}

// FuzzAppendFields holds AppendFields to the bytes Writer (Neutralize and
// encoding/csv) writes for the same record, whatever the cells.
func FuzzAppendFields(f *testing.F) {
	for _, seed := range [][3]string{
		{"", "", ""}, {"a", "b", "c"}, {"=1", "a,b", `q"uote`}, {" lead", "\\.", "line\nbreak"},
		{"\r\n", "\t=x", "\u00a0nbsp"}, {`"`, ",", "-2"}, {"\x85next", "ü", "@x"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, a, b, c string) {
		for _, rec := range [][]string{{a}, {a, b}, {a, b, c}} {
			var want bytes.Buffer
			w := NewWriter(&want)
			if err := w.Write(rec); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			got := append(AppendFields(nil, rec...), '\n')
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("AppendFields(%q) = %q, Writer wrote %q", rec, got, want.Bytes())
			}
		}
	})
}
