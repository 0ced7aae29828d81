// Package csvsafe writes CSV downloads that a spreadsheet opens as text:
// a cell beginning with "=", "+", "-", "@", a tab or a carriage return
// would be read as a formula (CSV injection), so it gets a leading single
// quote, as OWASP recommends; encoding/csv quotes separators, quotes and
// line breaks. Every Steward export (access's role assignments, audit's
// events) writes its cells through it: names, descriptions and messages
// come from users, and none of them may run in the spreadsheet of whoever
// opens the file.
package csvsafe

import (
	"encoding/csv"
	"io"
)

// Neutralize returns cell as a spreadsheet shows it as text: with a
// leading single quote when it begins with "=", "+", "-", "@", a tab or a
// carriage return, unchanged otherwise.
func Neutralize(cell string) string {
	if cell == "" {
		return cell
	}
	switch cell[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + cell
	}
	return cell
}

// Writer is a csv.Writer whose every cell is neutralized.
type Writer struct {
	w     *csv.Writer
	cells []string // the record Write writes, reused
}

// NewWriter returns a Writer writing to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: csv.NewWriter(w)} }

// Write writes one record, each cell neutralized. Like csv.Writer it
// buffers: call Flush.
func (w *Writer) Write(record []string) error {
	w.cells = w.cells[:0]
	for _, c := range record {
		w.cells = append(w.cells, Neutralize(c))
	}
	return w.w.Write(w.cells)
}

// Flush writes what is buffered to the underlying writer and returns any
// error of this or an earlier Write.
func (w *Writer) Flush() error {
	w.w.Flush()
	return w.w.Error()
}
