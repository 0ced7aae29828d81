//go:build e2e

package e2e_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// gatewayReadTimeout is the gateway's -read-timeout in TestGatewayEdge,
// short so that the trickle case ends soon.
const gatewayReadTimeout = 2 * time.Second

// rawCall sends a request to the gateway with the given headers and returns
// the status code and the body.
func rawCall(t *testing.T, s *suite, method, path string, body io.Reader, size int64, headers map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.addrs["gateway"]+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading: %v", method, path, err)
	}
	return resp.StatusCode, string(data)
}

// jsonCall is rawCall with a JSON body (none if nil).
func jsonCall(t *testing.T, s *suite, method, path string, body any, headers map[string]string) (int, string) {
	t.Helper()
	if body == nil {
		return rawCall(t, s, method, path, nil, 0, headers)
	}
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return rawCall(t, s, method, path, bytes.NewReader(b), int64(len(b)), headers)
}

// wantRPCStatus fails unless the answer is code with a JSON google.rpc.Status
// whose message contains each of want.
func wantRPCStatus(t *testing.T, what string, code int, body string, wantCode int, want ...string) {
	t.Helper()
	var st struct {
		Code    int
		Message string
	}
	if code != wantCode || json.Unmarshal([]byte(body), &st) != nil || st.Code == 0 {
		t.Errorf("%s: HTTP %d %s, want %d with a JSON status", what, code, body, wantCode)
		return
	}
	for _, w := range want {
		if !strings.Contains(st.Message, w) {
			t.Errorf("%s: message %q does not mention %q", what, st.Message, w)
		}
	}
}

// rssBytes is the resident set size of process pid.
func rssBytes(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// zeros is an endless JSON string: a quote, then 'a's.
type zeros struct{ started bool }

func (z *zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	if !z.started && len(p) > 0 {
		p[0], z.started = '"', true
	}
	return len(p), nil
}

// TestGatewayEdge is issue 9's gateway items against the real binaries:
// the Service scheme and internal headers are refused and change nothing
// (item 1), bodies are bounded in size and time and authenticated first
// (item 3), unknown JSON is refused by name and the CSV export has no blank
// lines (item 8).
func TestGatewayEdge(t *testing.T) {
	// Gateway-only flags, through the environment the launcher passes on.
	t.Setenv("STEWARD_READ_TIMEOUT", gatewayReadTimeout.String())
	s := launch(t)

	code, body := jsonCall(t, s, "POST", "/v1/organizations:signUp", map[string]any{
		"organizationId": "edge", "organizationDisplayName": "Edge Corp", "nickname": "owner",
		"email": "owner@edge.example", "password": "owner's long password",
	}, nil)
	if code != http.StatusOK {
		t.Fatalf("sign-up: %d %s", code, body)
	}
	const org = "organizations/edge"
	code, body = jsonCall(t, s, "POST", "/v1/"+org+":signIn", map[string]any{
		"password": map[string]any{"email": "owner@edge.example", "password": "owner's long password"},
	}, nil)
	var in struct{ AccessToken string }
	if code != http.StatusOK || json.Unmarshal([]byte(body), &in) != nil || in.AccessToken == "" {
		t.Fatalf("sign-in: %d %s", code, body)
	}
	owner := map[string]string{"Authorization": "Bearer " + in.AccessToken}

	t.Run("service scheme and internal headers", func(t *testing.T) {
		_, before := jsonCall(t, s, "GET", "/v1/"+org+"/tenants", nil, owner)
		for _, name := range []string{"directory", "access", "gateway"} {
			data, err := os.ReadFile(filepath.Join(s.dataDir, "credentials", name))
			if err != nil {
				t.Fatal(err)
			}
			service := map[string]string{"Authorization": "Service " + name + ":" + strings.TrimSpace(string(data))}
			code, body := jsonCall(t, s, "GET", "/v1/"+org+"/users", nil, service)
			wantRPCStatus(t, "GET users as "+name, code, body, http.StatusUnauthorized, "Service")
			code, body = jsonCall(t, s, "POST", "/v1/"+org+"/tenants?tenantId=evil", map[string]any{"displayName": "Evil"}, service)
			wantRPCStatus(t, "POST tenant as "+name, code, body, http.StatusUnauthorized, "Service")
		}
		for _, h := range []string{"X-Steward-Actor", "Grpc-Metadata-X-Steward-Actor", "Grpc-Metadata-Authorization", "X-Steward-Client-Address"} {
			headers := map[string]string{"Authorization": owner["Authorization"], h: "organizations/other/users/admin"}
			code, body := jsonCall(t, s, "POST", "/v1/"+org+"/tenants?tenantId=evil", map[string]any{"displayName": "Evil"}, headers)
			wantRPCStatus(t, "POST tenant with "+h, code, body, http.StatusBadRequest, h)
		}
		code, body := jsonCall(t, s, "GET", "/v1/"+org+"/tenants/evil", nil, owner)
		wantRPCStatus(t, "GET the refused tenant", code, body, http.StatusNotFound)
		if _, after := jsonCall(t, s, "GET", "/v1/"+org+"/tenants", nil, owner); after != before {
			t.Errorf("tenants changed:\nbefore %s\nafter  %s", before, after)
		}
	})

	t.Run("body limit", func(t *testing.T) {
		const twoMiB = 2 << 20
		code, body := rawCall(t, s, "POST", "/v1/organizations:signUp", &zeros{}, twoMiB, nil)
		wantRPCStatus(t, "declared 2 MiB", code, body, http.StatusRequestEntityTooLarge, "1048576")

		gw := s.children["gateway"]
		rss := rssBytes(t, gw)
		code, body = rawCall(t, s, "POST", "/v1/organizations:signUp", io.LimitReader(&zeros{}, 100<<20), -1, nil)
		wantRPCStatus(t, "chunked 100 MiB", code, body, http.StatusRequestEntityTooLarge)
		code, body = rawCall(t, s, "POST", "/v1/"+org+"/tenants?tenantId=big", io.LimitReader(&zeros{}, 100<<20), 100<<20, owner)
		wantRPCStatus(t, "declared 100 MiB, authenticated", code, body, http.StatusRequestEntityTooLarge)
		grown := rssBytes(t, gw) - rss
		t.Logf("gateway RSS grew by %d KiB over two 100 MiB POSTs", grown>>10)
		if grown > 64<<20 {
			t.Errorf("gateway RSS grew by %d MiB over two 100 MiB POSTs", grown>>20)
		}

		// No credentials on a route that needs them: 401, the body unread.
		code, body = rawCall(t, s, "POST", "/v1/"+org+"/tenants?tenantId=anon", io.LimitReader(&zeros{}, 512<<10), 512<<10, nil)
		wantRPCStatus(t, "unauthenticated POST", code, body, http.StatusUnauthorized)
	})

	t.Run("trickled body", func(t *testing.T) {
		conn, err := net.Dial("tcp", s.addrs["gateway"])
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		if _, err := io.WriteString(conn, "POST /v1/organizations:signUp HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{\"nickname\":\""); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := conn.Write([]byte("a")); err != nil {
						return
					}
				}
			}
		}()
		// The test's own bound: main held such a connection for over 70 s.
		_ = conn.SetReadDeadline(time.Now().Add(40 * time.Second))
		resp, err := io.ReadAll(conn)
		elapsed := time.Since(start)
		close(stop)
		<-done
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("no answer to a trickled body within %v", elapsed)
		}
		t.Logf("trickled body cut after %v (read timeout %v): %q", elapsed.Round(time.Millisecond), gatewayReadTimeout, firstLine(resp))
		if !strings.HasPrefix(string(resp), "HTTP/1.1 408 ") {
			t.Errorf("trickled body answered %q, want 408", resp)
		}
	})

	t.Run("unknown JSON", func(t *testing.T) {
		code, body := jsonCall(t, s, "POST", "/v1/organizations:signUp", map[string]any{
			"organizationId": "edge2", "organizationDisplayName": "Edge 2", "nickname": "o",
			"email": "o@edge2.example", "password": "a long enough password", "isAdmin": true,
		}, nil)
		wantRPCStatus(t, "sign-up with an unknown field", code, body, http.StatusBadRequest, `"isAdmin"`)
		code, body = jsonCall(t, s, "POST", "/v1/"+org+"/groups?groupId=g", map[string]any{"displayName": "G", "kind": "KIND_BOGUS"}, owner)
		wantRPCStatus(t, "group with an unknown enum value", code, body, http.StatusBadRequest, `"kind"`, "KIND_BOGUS")
		if code, body := jsonCall(t, s, "GET", "/v1/"+org+"/groups/g", nil, owner); code != http.StatusNotFound {
			t.Errorf("the refused group: %d %s, want 404", code, body)
		}
	})

	t.Run("CSV export", func(t *testing.T) {
		code, body := jsonCall(t, s, "GET", "/v1/"+org+"/roleAssignments:export", nil, owner)
		if code != http.StatusOK {
			t.Fatalf("export: %d %s", code, body)
		}
		lines := strings.Split(body, "\n")
		if len(lines) < 3 || lines[len(lines)-1] != "" {
			t.Fatalf("export %q: want rows ending with a newline", body)
		}
		for i, l := range lines[:len(lines)-1] {
			if strings.TrimSpace(l) == "" {
				t.Errorf("export line %d is blank: %q", i+1, body)
			}
		}
	})
}

func firstLine(b []byte) string {
	line, _, _ := strings.Cut(string(b), "\r\n")
	return line
}
