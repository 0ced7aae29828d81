package server

import (
	"strings"
	"unicode/utf8"

	accessv1 "steward.dev/gen/steward/access/v1"
)

// prevalidated is access's grpcserver Prevalidated: a hand-written check of
// the two requests on the Check path, CheckPermissionRequest and
// BatchCheckPermissionRequest, whose protovalidate rules cost more than
// the check itself (two resource-name regular expressions per item; issue
// 13). It returns true only for a request that satisfies those rules
// (FuzzPrevalidated holds it to protovalidate), so protovalidate can be
// skipped; for anything else it returns false and protovalidate decides and
// words the violation as for every request.
func prevalidated(req any) bool {
	switch r := req.(type) {
	case *accessv1.CheckPermissionRequest:
		return checkRequestValid(r)
	case *accessv1.BatchCheckPermissionRequest:
		items := r.GetItems()
		if len(items) < 1 || len(items) > 1000 {
			return false
		}
		for _, it := range items {
			if !checkRequestValid(it) {
				return false
			}
		}
		return true
	}
	return false
}

// checkRequestValid reports whether r satisfies CheckPermissionRequest's
// rules: principal a user, group, robot account or external app (or an API
// key of one of the last two), permission of 1 to 256 characters, scope an
// organization or a resource below one of at most 1,024 characters. A
// request asking about the past (as_of) is left to protovalidate: it is
// not the hot path.
func checkRequestValid(r *accessv1.CheckPermissionRequest) bool {
	if r.GetAsOf() != nil {
		return false
	}
	if n := utf8.RuneCountInString(r.GetPermission()); n < 1 || n > 256 {
		return false
	}
	return validPrincipal(r.GetPrincipal()) && len(r.GetScope()) <= 1024 && validScope(r.GetScope())
}

// validPrincipal matches
// ^organizations/ID/((users|groups)/ID|(robotAccounts|externalApps)/ID(/apiKeys/ID)?)$.
func validPrincipal(s string) bool {
	rest, ok := organizationPrefix(s)
	if !ok {
		return false
	}
	kind, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return false
	}
	id, rest, more := strings.Cut(rest, "/")
	if !validID(id) {
		return false
	}
	switch kind {
	case "users", "groups":
		return !more
	case "robotAccounts", "externalApps":
		if !more {
			return true
		}
		key, ok := strings.CutPrefix(rest, "apiKeys/")
		return ok && validID(key)
	}
	return false
}

// validScope matches ^organizations/ID(/[a-zA-Z]+/ID)*$.
func validScope(s string) bool {
	rest, ok := organizationPrefix(s)
	if !ok {
		return false
	}
	if rest == "" {
		return true
	}
	for {
		collection, after, ok := strings.Cut(rest, "/")
		if !ok || collection == "" || !letters(collection) {
			return false
		}
		id, next, more := strings.Cut(after, "/")
		if !validID(id) {
			return false
		}
		if !more {
			return true
		}
		rest = next
	}
}

// organizationPrefix strips "organizations/ID" and the "/" after it from
// s, returning the rest ("" and true for s = "organizations/ID" itself).
func organizationPrefix(s string) (string, bool) {
	rest, ok := strings.CutPrefix(s, "organizations/")
	if !ok {
		return "", false
	}
	id, after, more := strings.Cut(rest, "/")
	if !validID(id) {
		return "", false
	}
	if !more {
		return "", true
	}
	return after, after != ""
}

// validID matches [a-z0-9][a-z0-9-]{0,62}.
func validID(s string) bool {
	if len(s) < 1 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0:
		default:
			return false
		}
	}
	return true
}

// letters reports whether s is made of ASCII letters only.
func letters(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}
