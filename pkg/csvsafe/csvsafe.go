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
	"strings"
	"unicode"
	"unicode/utf8"
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

// AppendFields appends cells to dst as the fields of one CSV record, each
// neutralized and quoted exactly as Writer writes it, separated by commas,
// without the line ending, and returns the extended slice. A record's
// fields are encoded independently of each other, so a caller may encode
// the fixed part of many similar records once and append only what
// changes (access's export of a group's inherited rows): the bytes are
// those Writer writes for the whole record.
func AppendFields(dst []byte, cells ...string) []byte {
	for i, c := range cells {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendField(dst, c)
	}
	return dst
}

// appendField appends one neutralized cell, quoted when encoding/csv
// would quote it: when it contains a comma, a quote, a carriage return or
// a line feed, when it begins with a Unicode space, or when it is `\.`.
func appendField(dst []byte, cell string) []byte {
	cell = Neutralize(cell)
	if cell == "" {
		return dst
	}
	r, _ := utf8.DecodeRuneInString(cell)
	if !unicode.IsSpace(r) && cell != `\.` && !strings.ContainsAny(cell, ",\"\r\n") {
		return append(dst, cell...)
	}
	dst = append(dst, '"')
	for {
		i := strings.IndexByte(cell, '"')
		if i < 0 {
			break
		}
		dst = append(dst, cell[:i+1]...)
		dst = append(dst, '"')
		cell = cell[i+1:]
	}
	dst = append(dst, cell...)
	return append(dst, '"')
}
