package eventlog_test

import (
	"regexp"
	"testing"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	licensingv1 "steward.dev/gen/steward/licensing/v1"
	"steward.dev/pkg/eventlog"
)

// TestEventTypesAreContract: every value of every service's EventType enum
// but UNSPECIFIED names a distinct "<service>.<resource>.<verb>" type, and
// ParseType inverts TypeName (issue 10, deliver 1).
func TestEventTypesAreContract(t *testing.T) {
	typeName := regexp.MustCompile(`^[a-z]+\.[a-z_]+\.[a-z_]+$`)
	check := func(service string, n int, name func(i int) string, parse func(string) (int32, bool)) {
		seen := map[string]bool{}
		for i := 1; i < n; i++ {
			s := name(i)
			if !typeName.MatchString(s) || s[:len(service)+1] != service+"." {
				t.Errorf("%s value %d: type %q is not %s.<resource>.<verb>", service, i, s, service)
			}
			if seen[s] {
				t.Errorf("%s: type %q twice", service, s)
			}
			seen[s] = true
			if got, ok := parse(s); !ok || int(got) != i {
				t.Errorf("ParseType(%q) = %d, %v; want %d", s, got, ok, i)
			}
		}
		if _, ok := parse(service + ".nothing.happened"); ok {
			t.Errorf("%s: ParseType of an unknown type succeeded", service)
		}
	}
	check("directory", len(directoryv1.EventType_name),
		func(i int) string { return eventlog.TypeName(directoryv1.EventType(i)) },
		func(s string) (int32, bool) {
			v, ok := eventlog.ParseType[directoryv1.EventType](s)
			return int32(v), ok
		})
	check("access", len(accessv1.EventType_name),
		func(i int) string { return eventlog.TypeName(accessv1.EventType(i)) },
		func(s string) (int32, bool) { v, ok := eventlog.ParseType[accessv1.EventType](s); return int32(v), ok })
	check("licensing", len(licensingv1.EventType_name),
		func(i int) string { return eventlog.TypeName(licensingv1.EventType(i)) },
		func(s string) (int32, bool) {
			v, ok := eventlog.ParseType[licensingv1.EventType](s)
			return int32(v), ok
		})
	if got := eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_UNSPECIFIED); got != "" {
		t.Errorf("TypeName(UNSPECIFIED) = %q, want empty", got)
	}
}
