package domain_test

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"steward.dev/pkg/records"
	"steward.dev/services/audit/domain"
)

func nanos(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixNano()
}

// R29: the filter subset of AIP-160 over time, actor, action, target,
// tenant, outcome and source.
func TestParseFilter(t *testing.T) {
	cond := func(f domain.Field, v string) domain.Condition { return domain.Condition{Field: f, Value: v} }
	for _, tc := range []struct {
		in   string
		want domain.Filter
	}{
		{"", domain.MatchAll},
		{"   ", domain.MatchAll},
		{`actor = "organizations/o1/users/ann"`, domain.Filter{Conditions: []domain.Condition{cond(domain.FieldActor, "organizations/o1/users/ann")}, From: math.MinInt64, To: math.MaxInt64}},
		{`actor=organizations/o1/users/ann`, domain.Filter{Conditions: []domain.Condition{cond(domain.FieldActor, "organizations/o1/users/ann")}, From: math.MinInt64, To: math.MaxInt64}},
		{`action = 'user.created' AND target = "organizations/o1/users/bob"`, domain.Filter{Conditions: []domain.Condition{
			cond(domain.FieldAction, "user.created"), cond(domain.FieldTarget, "organizations/o1/users/bob")}, From: math.MinInt64, To: math.MaxInt64}},
		{`tenant = "organizations/o1/tenants/t1"`, domain.Filter{Conditions: []domain.Condition{cond(domain.FieldTenant, "organizations/o1/tenants/t1")}, From: math.MinInt64, To: math.MaxInt64}},
		{`outcome = DENIED`, domain.Filter{Conditions: []domain.Condition{cond(domain.FieldOutcome, "OUTCOME_DENIED")}, From: math.MinInt64, To: math.MaxInt64}},
		{`outcome = "OUTCOME_FAILURE"`, domain.Filter{Conditions: []domain.Condition{cond(domain.FieldOutcome, "OUTCOME_FAILURE")}, From: math.MinInt64, To: math.MaxInt64}},
		{`source = licensing`, domain.Filter{Conditions: []domain.Condition{cond(domain.FieldSource, "licensing")}, From: math.MinInt64, To: math.MaxInt64}},
		{`time >= "2026-01-01T00:00:00Z"`, domain.Filter{From: nanos("2026-01-01T00:00:00Z"), To: math.MaxInt64}},
		{`time > 2026-01-01T00:00:00Z`, domain.Filter{From: nanos("2026-01-01T00:00:00Z") + 1, To: math.MaxInt64}},
		{`time < "2026-01-01T00:00:00+01:00"`, domain.Filter{From: math.MinInt64, To: nanos("2025-12-31T23:00:00Z") - 1}},
		{`time <= "2026-01-01T00:00:00.5Z"`, domain.Filter{From: math.MinInt64, To: nanos("2026-01-01T00:00:00.5Z")}},
		{`time >= "2026-01-01T00:00:00Z" AND time < "2026-02-01T00:00:00Z" AND time >= "2026-01-15T00:00:00Z"`,
			domain.Filter{From: nanos("2026-01-15T00:00:00Z"), To: nanos("2026-02-01T00:00:00Z") - 1}},
		{"actor = \"a \\\"quoted\\\" \\\\ name\\n\\t\"", domain.Filter{Conditions: []domain.Condition{cond(domain.FieldActor, "a \"quoted\" \\ name\n\t")}, From: math.MinInt64, To: math.MaxInt64}},
		{`actor = 'it\'s'`, domain.Filter{Conditions: []domain.Condition{cond(domain.FieldActor, "it's")}, From: math.MinInt64, To: math.MaxInt64}},
		{"\tactor = \"\"\n", domain.Filter{Conditions: []domain.Condition{cond(domain.FieldActor, "")}, From: math.MinInt64, To: math.MaxInt64}},
	} {
		got, err := domain.ParseFilter(tc.in)
		if err != nil {
			t.Errorf("ParseFilter(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseFilter(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

// R29: a malformed filter is InvalidArgument on "filter" that names the
// position and what was expected there.
func TestParseFilterErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`actor`, `position 6: expected an operator after actor, found the end of the filter`},
		{`actor =`, `position 8: expected a value, found the end of the filter`},
		{`actor = "ann`, `position 9: unterminated string: expected a closing "`},
		{`actor = "a\qb"`, `position 11: unknown escape \q`},
		{`actor = "a\`, `position 11: unterminated escape`},
		{`who = "ann"`, `position 1: unknown field "who"`},
		{`Actor = "ann"`, `position 1: unknown field "Actor"`},
		{`actor != "ann"`, `position 7: actor takes =, not !=`},
		{`actor > "ann"`, `position 7: actor takes =, not >`},
		{`actor : "ann"`, `position 7: actor takes =, not :`},
		{`time = "2026-01-01T00:00:00Z"`, `position 6: time takes >=, >, < or <=, not =`},
		{`time >= "yesterday"`, `position 9: time takes an RFC 3339 time`},
		{`time >= "2026-01-01"`, `position 9: time takes an RFC 3339 time`},
		{`outcome = maybe`, `position 11: outcome takes SUCCESS, DENIED or FAILURE, found "maybe"`},
		{`outcome = UNSPECIFIED`, `position 11: outcome takes SUCCESS, DENIED or FAILURE`},
		{`source = billing`, `position 10: source takes directory, access, licensing, audit, found "billing"`},
		{`actor = "a" OR actor = "b"`, `position 13: OR is not supported`},
		{`actor = "a" and actor = "b"`, `position 13: expected AND (upper case)`},
		{`actor = "a" AND`, `position 16: expected a comparison after AND, found the end of the filter`},
		{`actor = "a" AND `, `position 17: expected a comparison after AND, found the end of the filter`},
		{`actor = "a" actor = "b"`, `position 13: expected AND or the end of the filter, found "actor"`},
		{`actor = "a"AND actor = "b"`, `position 12: expected a space after the closing quote, found "AND"`},
		{`actor = a@b`, `position 10: unexpected '@' after the value "a"`},
		{`(actor = "a")`, `position 1: parentheses and negation are not supported`},
		{`-actor = "a"`, `position 1: negation (-) is not supported`},
		{`NOT actor = "a"`, `position 1: NOT is not supported`},
		{`actor = "a" AND NOT source = access`, `position 17: NOT is not supported`},
		{`= "a"`, `position 1: expected a field (time, actor, action, target, tenant, outcome, source), found '='`},
		{`ünïcode = 1`, `position 1: expected a field`},
		{`actor = "ä" AND x = 1`, `position 17: unknown field "x"`},
		{strings.Repeat(`actor = "a" AND `, 32) + `actor = "a"`, `position 513: at most 32 comparisons are allowed`},
	} {
		_, err := domain.ParseFilter(tc.in)
		var fe *records.FieldError
		if !errors.As(err, &fe) || fe.Field != "filter" {
			t.Errorf("ParseFilter(%q) = %v, want a FieldError on filter", tc.in, err)
			continue
		}
		if !strings.Contains(fe.Description, tc.want) {
			t.Errorf("ParseFilter(%q) = %q, want it to contain %q", tc.in, fe.Description, tc.want)
		}
	}
}

// Filters that cannot match anything are recognised without a walk.
func TestFilterEmpty(t *testing.T) {
	for in, want := range map[string]bool{
		``:                            false,
		`actor = "a" AND actor = "a"`: false,
		`actor = "a" AND actor = "b"`: true,
		`time > "2026-01-02T00:00:00Z" AND time < "2026-01-01T00:00:00Z"`:   true,
		`time >= "2026-01-01T00:00:00Z" AND time <= "2026-01-01T00:00:00Z"`: false,
	} {
		f, err := domain.ParseFilter(in)
		if err != nil {
			t.Fatal(err)
		}
		if f.Empty() != want {
			t.Errorf("ParseFilter(%q).Empty() = %v, want %v", in, f.Empty(), want)
		}
	}
}

// FuzzParseFilter: ParseFilter never panics; it fails only with a
// FieldError on "filter" naming a position within the input; what it
// accepts is well-formed (known fields, outcomes as enum names, sources
// from the list).
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		``, `actor = "organizations/o1/users/ann"`, `time >= "2026-01-01T00:00:00Z" AND time < 2026-02-01T00:00:00Z`,
		`outcome = DENIED AND source = directory`, `actor = 'it\'s' AND target = "a\\b\n"`, `actor = "a" OR x`,
		`(`, `"`, `time > "9999-12-31T23:59:59Z"`, `time < "0001-01-01T00:00:00Z"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := domain.ParseFilter(s)
		if err != nil {
			var fe *records.FieldError
			if !errors.As(err, &fe) || fe.Field != "filter" || !strings.HasPrefix(fe.Description, "position ") {
				t.Fatalf("ParseFilter(%q): %v, want a FieldError on filter with a position", s, err)
			}
			return
		}
		for _, c := range flt.Conditions {
			switch c.Field {
			case domain.FieldActor, domain.FieldAction, domain.FieldTarget, domain.FieldTenant:
			case domain.FieldOutcome:
				if c.Value != "OUTCOME_SUCCESS" && c.Value != "OUTCOME_DENIED" && c.Value != "OUTCOME_FAILURE" {
					t.Fatalf("ParseFilter(%q): outcome %q", s, c.Value)
				}
			case domain.FieldSource:
				found := false
				for _, src := range domain.Sources {
					found = found || src == c.Value
				}
				if !found {
					t.Fatalf("ParseFilter(%q): source %q", s, c.Value)
				}
			default:
				t.Fatalf("ParseFilter(%q): condition on %q", s, c.Field)
			}
		}
	})
}
