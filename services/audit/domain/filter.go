package domain

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/records"
)

// The filter of ListAuditEvents and ExportAuditEvents (R29): a subset of
// AIP-160. A filter is comparisons joined by AND:
//
//	filter     = [ comparison { "AND" comparison } ]
//	comparison = field operator value
//	field      = "time" | "actor" | "action" | "target" | "tenant" | "outcome" | "source"
//	operator   = ">=" | ">" | "<" | "<="   (time)
//	           | "="                      (every other field)
//	value      = quoted string | bare word
//
// Strings are quoted with " or ' and may escape \\, \", \', \n, \r and \t.
// A bare word is letters, digits and . _ - / : + (enough for an outcome, a
// source or an RFC 3339 time). time takes an RFC 3339 time; outcome one of
// SUCCESS, DENIED, FAILURE; source one of directory, access, licensing,
// audit. OR, NOT, parentheses, functions and the other AIP-160 operators
// are refused with the position of what is not supported.

// Field is a filterable field of an audit event.
type Field string

// The filterable fields.
const (
	FieldTime    Field = "time"
	FieldActor   Field = "actor"
	FieldAction  Field = "action"
	FieldTarget  Field = "target"
	FieldTenant  Field = "tenant"
	FieldOutcome Field = "outcome"
	FieldSource  Field = "source"
)

// equalityFields are the fields compared with "=", in the order the query
// planner prefers their index: the most selective first.
var equalityFields = []Field{FieldActor, FieldTarget, FieldAction, FieldTenant, FieldSource, FieldOutcome}

// Sources are the values of the source field: the followed services, and
// audit itself for its own notes.
var Sources = []string{"directory", "access", "licensing", "audit"}

// maxComparisons bounds a filter's comparisons.
const maxComparisons = 32

// Condition is one equality comparison of a filter.
type Condition struct {
	// Field is the field compared; never FieldTime.
	Field Field
	// Value is the value it must equal; for FieldOutcome the enum value's
	// name (e.g. "OUTCOME_DENIED").
	Value string
}

// Filter is a parsed filter: equality conditions and a time range, all of
// which an event must satisfy. The zero Filter matches every event.
type Filter struct {
	// Conditions are the equality comparisons, in the filter's order.
	Conditions []Condition
	// From and To bound the event's time in Unix nanoseconds, both
	// inclusive; math.MinInt64 and math.MaxInt64 when unbounded.
	From, To int64
}

// MatchAll is the filter matching every event.
var MatchAll = Filter{From: math.MinInt64, To: math.MaxInt64}

// Empty reports whether no event can match f: its time range is empty, or
// two conditions ask one field for different values.
func (f Filter) Empty() bool {
	if f.From > f.To {
		return true
	}
	seen := map[Field]string{}
	for _, c := range f.Conditions {
		if v, ok := seen[c.Field]; ok && v != c.Value {
			return true
		}
		seen[c.Field] = c.Value
	}
	return false
}

// ParseFilter parses s (see the grammar above). An empty s is MatchAll. A
// malformed filter is a *records.FieldError on "filter" that names the
// position (1-based, in characters) and what was expected there.
func ParseFilter(s string) (Filter, error) {
	p := &filterParser{src: s}
	f := MatchAll
	p.skipSpace()
	if p.eof() {
		return f, nil
	}
	for n := 0; ; n++ {
		if n == maxComparisons {
			return Filter{}, p.errorf(p.pos, "at most %d comparisons are allowed", maxComparisons)
		}
		if err := p.comparison(&f); err != nil {
			return Filter{}, err
		}
		p.skipSpace()
		if p.eof() {
			return f, nil
		}
		start := p.pos
		word := p.word()
		switch word {
		case "AND":
			if !p.spaceFollows() {
				return Filter{}, p.errorf(start, "expected a space after AND")
			}
			p.skipSpace()
			if p.eof() {
				return Filter{}, p.errorf(p.pos, "expected a comparison after AND, found the end of the filter")
			}
		case "OR":
			return Filter{}, p.errorf(start, "OR is not supported: comparisons can only be joined by AND")
		case "and", "or":
			return Filter{}, p.errorf(start, "expected AND (upper case) between comparisons, found %q", word)
		default:
			return Filter{}, p.errorf(start, "expected AND or the end of the filter, found %s", p.describe(start))
		}
	}
}

// filterParser walks a filter string.
type filterParser struct {
	src string
	pos int // byte offset
}

// eof reports whether the whole filter was read.
func (p *filterParser) eof() bool { return p.pos >= len(p.src) }

// errorf returns a *records.FieldError on "filter" at byte offset at.
func (p *filterParser) errorf(at int, format string, args ...any) error {
	col := utf8.RuneCountInString(p.src[:min(at, len(p.src))]) + 1
	return records.FieldErrorf("filter", "position %d: %s", col, fmt.Sprintf(format, args...))
}

// describe says what is at byte offset at, for errors.
func (p *filterParser) describe(at int) string {
	if at >= len(p.src) {
		return "the end of the filter"
	}
	rest := p.src[at:]
	if w := wordAt(rest); w != "" {
		return fmt.Sprintf("%q", w)
	}
	r, _ := utf8.DecodeRuneInString(rest)
	return fmt.Sprintf("%q", r)
}

// skipSpace moves past spaces, tabs and line breaks.
func (p *filterParser) skipSpace() {
	for !p.eof() {
		switch p.src[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// spaceFollows reports whether the filter ends at the position or a
// space follows: what separates a keyword or a value from the next token.
func (p *filterParser) spaceFollows() bool {
	if p.eof() {
		return true
	}
	switch p.src[p.pos] {
	case ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

// isWordByte reports whether c may be part of a bare word.
func isWordByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '.', '_', '-', '/', ':', '+':
		return true
	}
	return false
}

// wordAt returns the bare word at the start of s ("" if none).
func wordAt(s string) string {
	i := 0
	for i < len(s) && isWordByte(s[i]) {
		i++
	}
	return s[:i]
}

// word consumes and returns the bare word at the position.
func (p *filterParser) word() string {
	w := wordAt(p.src[p.pos:])
	p.pos += len(w)
	return w
}

// comparison parses one comparison into f.
func (p *filterParser) comparison(f *Filter) error {
	start := p.pos
	name := p.word()
	field := Field(name)
	switch {
	case name == "":
		if !p.eof() && (p.src[p.pos] == '(' || p.src[p.pos] == '-') {
			return p.errorf(start, "parentheses and negation are not supported: expected a field (time, actor, action, target, tenant, outcome, source)")
		}
		return p.errorf(start, "expected a field (time, actor, action, target, tenant, outcome, source), found %s", p.describe(start))
	case name == "NOT":
		return p.errorf(start, "NOT is not supported")
	case strings.HasPrefix(name, "-"):
		return p.errorf(start, "negation (-) is not supported: expected a field (time, actor, action, target, tenant, outcome, source)")
	case field != FieldTime && !isEqualityField(field):
		return p.errorf(start, "unknown field %q: expected time, actor, action, target, tenant, outcome or source", name)
	}
	p.skipSpace()
	opAt := p.pos
	op := p.operator()
	switch {
	case op == "":
		return p.errorf(opAt, "expected an operator after %s, found %s", name, p.describe(opAt))
	case field == FieldTime && op == "=":
		return p.errorf(opAt, "time takes >=, >, < or <=, not =")
	case field == FieldTime && (op == "!=" || op == ":"):
		return p.errorf(opAt, "time takes >=, >, < or <=, not %s", op)
	case field != FieldTime && op != "=":
		return p.errorf(opAt, "%s takes =, not %s", name, op)
	}
	p.skipSpace()
	valAt := p.pos
	val, err := p.value()
	if err != nil {
		return err
	}
	switch field {
	case FieldTime:
		t, err := time.Parse(time.RFC3339Nano, val)
		if err != nil {
			return p.errorf(valAt, "time takes an RFC 3339 time such as \"2026-01-02T15:04:05Z\", found %q", val)
		}
		n := unixNanos(t)
		switch op {
		case ">=":
			f.From = max(f.From, n)
		case ">":
			if n == math.MaxInt64 {
				f.From = math.MaxInt64
				f.To = math.MinInt64 // nothing is after the end of time
			} else {
				f.From = max(f.From, n+1)
			}
		case "<=":
			f.To = min(f.To, n)
		case "<":
			if n == math.MinInt64 {
				f.To = math.MinInt64
				f.From = math.MaxInt64
			} else {
				f.To = min(f.To, n-1)
			}
		}
	case FieldOutcome:
		o, ok := parseOutcome(val)
		if !ok {
			return p.errorf(valAt, "outcome takes SUCCESS, DENIED or FAILURE, found %q", val)
		}
		f.Conditions = append(f.Conditions, Condition{Field: field, Value: o.String()})
	case FieldSource:
		if !contains(Sources, val) {
			return p.errorf(valAt, "source takes %s, found %q", strings.Join(Sources, ", "), val)
		}
		f.Conditions = append(f.Conditions, Condition{Field: field, Value: val})
	default:
		f.Conditions = append(f.Conditions, Condition{Field: field, Value: val})
	}
	return nil
}

// operator consumes and returns a comparison operator ("" if none). It
// recognises the AIP-160 operators the subset refuses, to name them.
func (p *filterParser) operator() string {
	for _, op := range []string{">=", "<=", "!=", "=", ">", "<", ":"} {
		if strings.HasPrefix(p.src[p.pos:], op) {
			p.pos += len(op)
			return op
		}
	}
	return ""
}

// value consumes a quoted string or a bare word.
func (p *filterParser) value() (string, error) {
	start := p.pos
	if p.eof() {
		return "", p.errorf(start, "expected a value, found the end of the filter")
	}
	q := p.src[p.pos]
	if q != '"' && q != '\'' {
		w := p.word()
		if w == "" {
			return "", p.errorf(start, "expected a quoted string or a word, found %s", p.describe(start))
		}
		if !p.eof() && !p.spaceFollows() {
			return "", p.errorf(p.pos, "unexpected %s after the value %q: quote values holding other characters", p.describe(p.pos), w)
		}
		return w, nil
	}
	p.pos++
	var b strings.Builder
	for {
		if p.eof() {
			return "", p.errorf(start, "unterminated string: expected a closing %c", q)
		}
		c := p.src[p.pos]
		switch {
		case c == q:
			p.pos++
			if !p.eof() && !p.spaceFollows() {
				return "", p.errorf(p.pos, "expected a space after the closing quote, found %s", p.describe(p.pos))
			}
			if !utf8.ValidString(b.String()) {
				return "", p.errorf(start, "the string is not valid UTF-8")
			}
			return b.String(), nil
		case c == '\\':
			if p.pos+1 >= len(p.src) {
				return "", p.errorf(p.pos, "unterminated escape: expected one of \\\\ \\\" \\' \\n \\r \\t")
			}
			switch e := p.src[p.pos+1]; e {
			case '\\', '"', '\'':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			default:
				return "", p.errorf(p.pos, "unknown escape \\%c: expected one of \\\\ \\\" \\' \\n \\r \\t", rune(e))
			}
			p.pos += 2
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
}

// isEqualityField reports whether f is compared with "=".
func isEqualityField(f Field) bool {
	for _, e := range equalityFields {
		if e == f {
			return true
		}
	}
	return false
}

// parseOutcome returns the outcome named s: SUCCESS, DENIED or FAILURE, or
// the enum value's full name.
func parseOutcome(s string) (eventlogv1.Outcome, bool) {
	v, ok := eventlogv1.Outcome_value["OUTCOME_"+s]
	if !ok {
		v, ok = eventlogv1.Outcome_value[s]
	}
	if !ok || v == int32(eventlogv1.Outcome_OUTCOME_UNSPECIFIED) {
		return 0, false
	}
	return eventlogv1.Outcome(v), true
}

// contains reports whether list holds s.
func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// unixNanos returns t in Unix nanoseconds, clamped to the int64 range
// (years 1678 to 2262).
func unixNanos(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}
