package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Output formats.
const (
	formatTable = "table"
	formatJSON  = "json"
)

// writeJSON writes m as protojson (field names in lowerCamelCase, as the
// JSON gateway answers), indented by two spaces, followed by a newline.
// protojson varies its whitespace on purpose; json.Indent makes it stable.
func writeJSON(w io.Writer, m proto.Message) error {
	b, err := protojson.Marshal(m)
	if err != nil {
		return localError(err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return localError(err)
	}
	buf.WriteByte('\n')
	_, err = w.Write(buf.Bytes())
	return localError(err)
}

// table collects rows and writes them aligned in columns.
type table struct {
	header []string
	rows   [][]string
}

// newTable returns a table with the given column headers.
func newTable(header ...string) *table { return &table{header: header} }

// add appends a row; missing cells are empty and empty cells print as "-".
func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// write writes the header and rows to w, columns separated by two spaces.
func (t *table) write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(cells []string) {
		out := make([]string, len(t.header))
		for i := range out {
			c := ""
			if i < len(cells) {
				c = cells[i]
			}
			if c == "" {
				c = "-"
			}
			out[i] = sanitize(c)
		}
		fmt.Fprintln(tw, strings.Join(out, "\t"))
	}
	line(t.header)
	for _, r := range t.rows {
		line(r)
	}
	return localError(tw.Flush())
}

// sanitize keeps one cell on one line, in one column, and free of terminal
// control sequences (names and messages come from other people).
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return '?'
		}
		return r
	}, s)
}

// ts formats a timestamp for a table: UTC, to the second; "" when unset.
func ts(t *timestamppb.Timestamp) string {
	if t == nil {
		return ""
	}
	return t.AsTime().UTC().Format(time.RFC3339)
}

// enumWord turns an enum value into a short lower-case word: its name
// without the type's prefix, e.g. STATE_ACTIVE -> "active",
// LICENSE_MODEL_NAMED -> "named"; "" for the zero value.
func enumWord(e protoreflect.Enum) string {
	if e.Number() == 0 {
		return ""
	}
	v := e.Descriptor().Values().ByNumber(e.Number())
	if v == nil {
		return fmt.Sprint(e.Number())
	}
	name := string(v.Name())
	zero := string(e.Descriptor().Values().ByNumber(0).Name()) // e.g. STATE_UNSPECIFIED
	prefix := strings.TrimSuffix(zero, "UNSPECIFIED")
	return strings.ToLower(strings.TrimPrefix(name, prefix))
}

// yesNo is "yes" for true and "" (printed "-") for false.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return ""
}

// last returns the last segment of a resource name ("ann" for
// "organizations/acme/users/ann").
func last(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// fields returns a two-column table of m's populated fields, in
// declaration order: for showing one object.
func fields(m proto.Message) *table {
	t := newTable("FIELD", "VALUE")
	r := m.ProtoReflect()
	fds := r.Descriptor().Fields()
	for i := 0; i < fds.Len(); i++ {
		fd := fds.Get(i)
		if !r.Has(fd) {
			continue
		}
		t.add(string(fd.Name()), fieldValue(fd, r.Get(fd)))
	}
	return t
}

// fieldValue formats one field's value for a table cell.
func fieldValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) string {
	switch {
	case fd.IsList():
		l := v.List()
		parts := make([]string, l.Len())
		for i := range parts {
			parts[i] = singular(fd, l.Get(i))
		}
		return strings.Join(parts, ", ")
	case fd.IsMap():
		var parts []string
		v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
			parts = append(parts, k.String()+"="+singular(fd.MapValue(), mv))
			return true
		})
		return strings.Join(parts, ", ")
	}
	return singular(fd, v)
}

func singular(fd protoreflect.FieldDescriptor, v protoreflect.Value) string {
	switch fd.Kind() {
	case protoreflect.EnumKind:
		ev := fd.Enum().Values().ByNumber(v.Enum())
		if ev == nil {
			return fmt.Sprint(v.Enum())
		}
		zero := string(fd.Enum().Values().ByNumber(0).Name())
		return strings.ToLower(strings.TrimPrefix(string(ev.Name()), strings.TrimSuffix(zero, "UNSPECIFIED")))
	case protoreflect.MessageKind, protoreflect.GroupKind:
		m := v.Message().Interface()
		if t, ok := m.(*timestamppb.Timestamp); ok {
			return ts(t)
		}
		b, err := protojson.Marshal(m)
		if err != nil {
			return "?"
		}
		return string(b)
	case protoreflect.BytesKind:
		return fmt.Sprintf("%x", v.Bytes())
	}
	return v.String()
}
