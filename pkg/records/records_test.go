package records_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/records"
	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
)

func openStore(t *testing.T) store.Store {
	t.Helper()
	s, err := bboltstore.Open(filepath.Join(t.TempDir(), "t.db"), bboltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestEtag: the etag ignores the etag field itself and changes with any
// other field.
func TestEtag(t *testing.T) {
	a := &directoryv1.Tenant{Name: "organizations/o/tenants/t", DisplayName: "A"}
	records.SetEtag(a)
	b := proto.Clone(a).(*directoryv1.Tenant)
	b.Etag = "something else"
	if records.Etag(b) != a.GetEtag() {
		t.Fatal("etag depends on the etag field")
	}
	b.DisplayName = "B"
	if records.Etag(b) == a.GetEtag() {
		t.Fatal("etag did not change with display_name")
	}
}

func TestApplyMask(t *testing.T) {
	allowed := []string{"display_name", "description"}
	for _, tc := range []struct {
		name    string
		paths   []string
		want    *directoryv1.Tenant
		wantErr bool
	}{
		{"empty mask takes every allowed field", nil, &directoryv1.Tenant{Name: "n", DisplayName: "new"}, false},
		{"one field", []string{"display_name"}, &directoryv1.Tenant{Name: "n", DisplayName: "new", Description: "old"}, false},
		{"clearing a field", []string{"description"}, &directoryv1.Tenant{Name: "n", DisplayName: "old"}, false},
		{"output-only field", []string{"name"}, nil, true},
		{"unknown field", []string{"nope"}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := &directoryv1.Tenant{Name: "n", DisplayName: "old", Description: "old"}
			src := &directoryv1.Tenant{Name: "other", DisplayName: "new"}
			err := records.ApplyMask(dst, src, (&fieldmaskpb.FieldMask{Paths: tc.paths}).GetPaths(), allowed...)
			var fe *records.FieldError
			if tc.wantErr {
				if !errors.As(err, &fe) || fe.Field != "update_mask" {
					t.Fatalf("err = %v, want a FieldError on update_mask", err)
				}
				return
			}
			if err != nil || !proto.Equal(dst, tc.want) {
				t.Fatalf("got %v, %v; want %v", dst, err, tc.want)
			}
		})
	}
}

// TestIdempotent (AIP-155): a retry returns the first response without
// running again; another request with the same key is refused.
func TestIdempotent(t *testing.T) {
	s := openStore(t)
	key := []byte("i/o/req-1")
	runs := 0
	call := func(req *directoryv1.CreateTenantRequest) (*directoryv1.Tenant, bool, error) {
		resp := &directoryv1.Tenant{}
		var replayed bool
		err := s.Update(context.Background(), func(tx store.Tx) error {
			var err error
			replayed, err = records.Idempotent(tx, key, req, resp, func() error {
				runs++
				resp.Name = fmt.Sprintf("organizations/o/tenants/t%d", runs)
				return nil
			})
			return err
		})
		return resp, replayed, err
	}
	req := &directoryv1.CreateTenantRequest{Parent: "organizations/o", Tenant: &directoryv1.Tenant{DisplayName: "A"}}
	first, replayed, err := call(req)
	if err != nil || replayed {
		t.Fatal(first, replayed, err)
	}
	again, replayed, err := call(req)
	if err != nil || !replayed || again.GetName() != first.GetName() || runs != 1 {
		t.Fatalf("retry = %v, %v, %v (runs %d)", again, replayed, err, runs)
	}
	other := &directoryv1.CreateTenantRequest{Parent: "organizations/o", Tenant: &directoryv1.Tenant{DisplayName: "B"}}
	if _, _, err := call(other); !errors.Is(err, records.ErrRequestIDReused) {
		t.Fatalf("reuse: %v", err)
	}
}

// TestIdempotentMethodBound (AIP-155): the request_id record is bound to
// the request's message type, not only its bytes: CreateTenant then
// CreateDepartment with the same request_id and an identical encoding is a
// reused request_id, not a replay of the tenant.
func TestIdempotentMethodBound(t *testing.T) {
	s := openStore(t)
	key := []byte("i/o/req-2")
	tenant := &directoryv1.CreateTenantRequest{Parent: "organizations/o", TenantId: "x", RequestId: "r"}
	dept := &directoryv1.CreateDepartmentRequest{Parent: "organizations/o", DepartmentId: "x", RequestId: "r"}
	tb, err := store.Marshal(tenant)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Marshal(dept)
	if err != nil {
		t.Fatal(err)
	}
	if string(tb) != string(db) {
		t.Fatalf("precondition: the two requests should encode alike: %x vs %x", tb, db)
	}
	th, _ := records.RequestHash(tenant)
	dh, _ := records.RequestHash(dept)
	if th == dh {
		t.Fatal("RequestHash ignores the message type")
	}
	runs := 0
	call := func(req proto.Message, resp proto.Message) (bool, error) {
		var replayed bool
		err := s.Update(context.Background(), func(tx store.Tx) error {
			var err error
			replayed, err = records.Idempotent(tx, key, req, resp, func() error {
				runs++
				return nil
			})
			return err
		})
		return replayed, err
	}
	if replayed, err := call(tenant, &directoryv1.Tenant{}); err != nil || replayed {
		t.Fatalf("CreateTenant: %v, %v", replayed, err)
	}
	if _, err := call(dept, &directoryv1.Department{}); !errors.Is(err, records.ErrRequestIDReused) {
		t.Fatalf("CreateDepartment with the tenant's request_id: %v, want ErrRequestIDReused", err)
	}
	if replayed, err := call(tenant, &directoryv1.Tenant{}); err != nil || !replayed || runs != 1 {
		t.Fatalf("CreateTenant retry: %v, %v (runs %d)", replayed, err, runs)
	}
}

// TestPage (AIP-158): pages cover every record once, in key order; direct
// children only; tokens are bound to their request.
func TestPage(t *testing.T) {
	s := openStore(t)
	err := s.Update(context.Background(), func(tx store.Tx) error {
		for i := 0; i < 7; i++ {
			name := fmt.Sprintf("organizations/o/tenants/t%d", i)
			if err := store.PutProto(tx, []byte("r/"+name), &directoryv1.Tenant{Name: name}); err != nil {
				return err
			}
			if err := store.PutProto(tx, []byte("r/"+name+"/services/s"), &directoryv1.Tenant{Name: name + "/services/s"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	prefix := []byte("r/organizations/o/tenants/")
	page := func(token string, fp uint64) ([]*directoryv1.Tenant, string, error) {
		var out []*directoryv1.Tenant
		var next string
		err := s.View(context.Background(), func(tx store.ReadTx) error {
			var err error
			out, next, err = records.Page(tx, prefix, true, token, 3, fp,
				func() *directoryv1.Tenant { return &directoryv1.Tenant{} },
				func(m *directoryv1.Tenant) (bool, error) { return m.GetName() != "organizations/o/tenants/t4", nil })
			return err
		})
		return out, next, err
	}
	var names []string
	for token := ""; ; {
		out, next, err := page(token, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out {
			names = append(names, m.GetName())
		}
		if next == "" {
			break
		}
		if _, _, err := page(next, 2); err == nil {
			t.Fatal("a token was accepted with another fingerprint")
		}
		token = next
	}
	if got := fmt.Sprint(names); got != "[organizations/o/tenants/t0 organizations/o/tenants/t1 organizations/o/tenants/t2 organizations/o/tenants/t3 organizations/o/tenants/t5 organizations/o/tenants/t6]" {
		t.Fatalf("pages = %s", got)
	}
	if records.PageSize(0) != records.DefaultPageSize || records.PageSize(5000) != records.MaxPageSize {
		t.Fatal("PageSize defaults")
	}
}

// TestSlicePage: pages of an in-memory list cover every item once, in key
// order whatever the input order; a token resumes after its key even when
// the list changed in between, and is bound to its request.
func TestSlicePage(t *testing.T) {
	list := func() []records.Keyed[string] {
		var items []records.Keyed[string]
		for _, k := range []string{"1/c", "0/2", "1/a", "0/0", "1/b", "0/1", "1/d"} {
			items = append(items, records.Keyed[string]{Key: k, Item: "item " + k})
		}
		return items
	}
	var got []string
	for token := ""; ; {
		out, next, err := records.SlicePage(list(), token, 3, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) == 0 {
			t.Fatalf("empty page for token %q", token)
		}
		got = append(got, out...)
		if next == "" {
			break
		}
		if _, _, err := records.SlicePage(list(), next, 3, 2); err == nil {
			t.Fatal("a token was accepted with another fingerprint")
		}
		token = next
	}
	if s := fmt.Sprint(got); s != "[item 0/0 item 0/1 item 0/2 item 1/a item 1/b item 1/c item 1/d]" {
		t.Fatalf("pages = %s", s)
	}

	// The token names the last key returned: removing that item does not
	// skip or repeat the others.
	_, next, err := records.SlicePage(list(), "", 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	rest := slices.DeleteFunc(list(), func(it records.Keyed[string]) bool { return it.Key == "0/1" })
	out, _, err := records.SlicePage(rest, next, 2, 1)
	if err != nil || fmt.Sprint(out) != "[item 0/2 item 1/a]" {
		t.Fatalf("page after a removed key = %v, %v", out, err)
	}

	// An exact page leaves no token; an empty list is an empty page.
	if out, next, err := records.SlicePage(list(), "", 7, 1); err != nil || len(out) != 7 || next != "" {
		t.Fatalf("whole list = %d items, token %q, %v", len(out), next, err)
	}
	if out, next, err := records.SlicePage[string](nil, "", 0, 1); err != nil || out == nil || len(out) != 0 || next != "" {
		t.Fatalf("empty list = %#v, %q, %v", out, next, err)
	}

	var fe *records.FieldError
	if _, _, err := records.SlicePage(list(), "not a token", 3, 1); !errors.As(err, &fe) || fe.Field != "page_token" {
		t.Fatalf("bad token: %v, want a page_token FieldError", err)
	}
}

// TestAtItem: a field error moves under the batch item; any other error
// names the item and still matches what it wraps; nil stays nil.
func TestAtItem(t *testing.T) {
	if records.AtItem("requests", 3, nil) != nil {
		t.Error("AtItem(nil) is not nil")
	}
	var fe *records.FieldError
	if err := records.AtItem("requests", 3, records.FieldErrorf("scope", "must be a scope")); !errors.As(err, &fe) ||
		fe.Field != "requests[3].scope" || fe.Description != "must be a scope" {
		t.Errorf("field error at item 3 = %v", err)
	}
	sentinel := errors.New("denied")
	err := records.AtItem("requests", 0, fmt.Errorf("wrapped: %w", sentinel))
	var ie *records.ItemError
	if !errors.As(err, &ie) || ie.Item != "requests[0]" || !errors.Is(err, sentinel) {
		t.Errorf("other error at item 0 = %v", err)
	}
}
