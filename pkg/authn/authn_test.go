package authn_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"steward.dev/pkg/authn"
)

func TestKindOf(t *testing.T) {
	tests := []struct {
		name string
		want authn.Kind
	}{
		{"organizations/o1/users/u1", authn.KindUser},
		{"organizations/o1/robotAccounts/r1", authn.KindRobotAccount},
		{"organizations/o1/externalApps/a1", authn.KindExternalApp},
		{"services/directory", authn.KindService},
		{"organizations/o1", authn.KindUnspecified},
		{"organizations/o1/services/s1", authn.KindUnspecified},
		{"users/", authn.KindUnspecified},
		{"", authn.KindUnspecified},
	}
	for _, tt := range tests {
		if got := authn.KindOf(tt.name); got != tt.want {
			t.Errorf("KindOf(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestContext(t *testing.T) {
	ctx := context.Background()
	if _, ok := authn.FromContext(ctx); ok {
		t.Fatal("FromContext(empty) reported a principal")
	}
	if _, ok := authn.Actor(ctx); ok {
		t.Fatal("Actor(empty) reported a principal")
	}
	user := authn.Principal{Kind: authn.KindUser, Name: "organizations/o1/users/u1", Organization: "organizations/o1"}
	if got, _ := authn.Actor(authn.NewContext(ctx, user)); got.Name != user.Name {
		t.Errorf("Actor(user) = %q, want the user", got.Name)
	}
	svc := authn.Principal{Kind: authn.KindService, Name: "services/access", OnBehalfOf: &user}
	ctx = authn.NewContext(ctx, svc)
	if got, _ := authn.FromContext(ctx); got.Name != "services/access" {
		t.Errorf("FromContext = %q, want services/access", got.Name)
	}
	if got, _ := authn.Actor(ctx); got.Name != user.Name {
		t.Errorf("Actor(service on behalf of user) = %q, want %q", got.Name, user.Name)
	}
	if got := authn.RequestID(authn.WithRequestID(ctx, "r1")); got != "r1" {
		t.Errorf("RequestID = %q, want r1", got)
	}
}

func TestLoadOrCreateServiceCredential(t *testing.T) {
	path := filepath.Join(t.TempDir(), "service.key")
	c1, err := authn.LoadOrCreateServiceCredential(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("mode = %#o, want 0600", perm)
	}
	c2, err := authn.LoadOrCreateServiceCredential(path)
	if err != nil {
		t.Fatal(err)
	}
	if c1.AuthorizationFor("x") != c2.AuthorizationFor("x") {
		t.Error("second load returned a different secret")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("data directory holds %d files, want 1 (temporary file left behind?)", len(entries))
	}

	secret := strings.TrimPrefix(c1.AuthorizationFor("x"), "Service x:")
	for _, s := range []string{c1.String(), fmt.Sprintf("%v", c1), fmt.Sprintf("%+v", c1), fmt.Sprintf("%#v", c1)} {
		if strings.Contains(s, secret) || !strings.Contains(s, "redacted") {
			t.Errorf("formatted credential %q is not redacted", s)
		}
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := authn.LoadOrCreateServiceCredential(path); err == nil || !strings.Contains(err.Error(), "mode") {
		t.Errorf("load of a 0644 file: err = %v, want a mode error", err)
	}

	short := filepath.Join(t.TempDir(), "short.key")
	if err := os.WriteFile(short, []byte("c2hvcnQ\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := authn.LoadOrCreateServiceCredential(short); err == nil {
		t.Error("load of a short secret succeeded")
	}
}

func newCredential(t *testing.T) authn.ServiceCredential {
	t.Helper()
	c, err := authn.NewServiceCredential([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tlsPeer returns a peer whose verified client certificate has CommonName cn.
func tlsPeer(cn string) *peer.Peer {
	cert := &x509.Certificate{Subject: pkix.Name{CommonName: cn}}
	return &peer.Peer{AuthInfo: credentials.TLSInfo{State: tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{cert}}}}}
}

func TestAuthenticate(t *testing.T) {
	cred := newCredential(t)
	other, err := authn.NewServiceCredential([]byte(strings.Repeat("o", 32)))
	if err != nil {
		t.Fatal(err)
	}
	trusted := authn.TrustedServices{}.With("access", cred).With("audit", other)
	user := authn.Principal{Kind: authn.KindUser, Name: "organizations/o1/users/u1", Organization: "organizations/o1"}
	verifier := authn.VerifierFunc(func(_ context.Context, token string) (authn.Principal, error) {
		switch token {
		case "good":
			return user, nil
		case "service":
			return authn.Principal{Kind: authn.KindService, Name: "services/evil"}, nil
		}
		return authn.Principal{}, fmt.Errorf("%w: bad token", authn.ErrUnauthenticated)
	})
	actorMD := []string{authn.MDActor, "organizations/o2/users/u9", authn.MDActorOrganization, "organizations/o2"}
	asAccess := []string{"authorization", cred.AuthorizationFor("access")}

	tests := []struct {
		name        string
		verifier    authn.Verifier
		md          []string
		peer        *peer.Peer
		wantErr     error
		wantName    string
		wantActor   string
		wantSession string
	}{
		{name: "no credentials", wantErr: authn.ErrNoCredentials},
		{name: "service", md: asAccess, wantName: "services/access", wantActor: "services/access"},
		{name: "service acting for user", md: append(asAccess, actorMD...), wantName: "services/access", wantActor: "organizations/o2/users/u9"},
		{name: "service acting for user, organization from the name", md: append(asAccess, authn.MDActor, "organizations/o2/robotAccounts/r1"), wantName: "services/access", wantActor: "organizations/o2/robotAccounts/r1"},
		{name: "service acting for an API key", md: append(asAccess, authn.MDActor, "organizations/o2/robotAccounts/r1", authn.MDActorSession, "organizations/o2/robotAccounts/r1/apiKeys/k1"),
			wantName: "services/access", wantActor: "organizations/o2/robotAccounts/r1", wantSession: "organizations/o2/robotAccounts/r1/apiKeys/k1"},
		{name: "actor organization contradicts the actor", md: append(asAccess, authn.MDActor, "organizations/o2/users/u9", authn.MDActorOrganization, "organizations/o1"), wantErr: authn.ErrUnauthenticated},
		{name: "actor is a service", md: append(asAccess, authn.MDActor, "services/directory"), wantErr: authn.ErrUnauthenticated},
		{name: "actor is not a principal", md: append(asAccess, authn.MDActor, "organizations/o2"), wantErr: authn.ErrUnauthenticated},
		{name: "one service's secret as another service", md: []string{"authorization", cred.AuthorizationFor("audit")}, wantErr: authn.ErrUnauthenticated},
		{name: "a secret as an unknown service", md: []string{"authorization", cred.AuthorizationFor("directory")}, wantErr: authn.ErrUnauthenticated},
		{name: "the other service's own secret", md: []string{"authorization", other.AuthorizationFor("audit")}, wantName: "services/audit", wantActor: "services/audit"},
		{name: "wrong secret", md: []string{"authorization", other.AuthorizationFor("access")}, wantErr: authn.ErrUnauthenticated},
		{name: "malformed service credential", md: []string{"authorization", "Service access"}, wantErr: authn.ErrUnauthenticated},
		{name: "bad service name", md: []string{"authorization", strings.Replace(cred.AuthorizationFor("x"), "x:", "X Y:", 1)}, wantErr: authn.ErrUnauthenticated},
		{name: "unknown scheme", md: []string{"authorization", "Basic dXNlcjpwYXNz"}, wantErr: authn.ErrUnauthenticated},
		{name: "two authorization values", md: []string{"authorization", "Bearer good", "authorization", "Bearer good"}, verifier: verifier, wantErr: authn.ErrUnauthenticated},
		{name: "bearer without verifier", md: []string{"authorization", "Bearer good"}, wantErr: authn.ErrUnauthenticated},
		{name: "bearer", md: []string{"authorization", "Bearer good"}, verifier: verifier, wantName: user.Name, wantActor: user.Name},
		{name: "bearer scheme case-insensitive", md: []string{"authorization", "bearer good"}, verifier: verifier, wantName: user.Name, wantActor: user.Name},
		{name: "user cannot impersonate", md: append([]string{"authorization", "Bearer good"}, actorMD...), verifier: verifier, wantName: user.Name, wantActor: user.Name},
		{name: "bad token", md: []string{"authorization", "Bearer bad"}, verifier: verifier, wantErr: authn.ErrUnauthenticated},
		{name: "bearer cannot be a service", md: []string{"authorization", "Bearer service"}, verifier: verifier, wantErr: authn.ErrUnauthenticated},
		{name: "client certificate", peer: tlsPeer("steward-audit"), wantName: "services/audit", wantActor: "services/audit"},
		{name: "client certificate acting for user", peer: tlsPeer("steward-audit"), md: actorMD, wantName: "services/audit", wantActor: "organizations/o2/users/u9"},
		{name: "client certificate of a stranger", peer: tlsPeer("mallory"), wantErr: authn.ErrUnauthenticated},
		{name: "unverified TLS peer", peer: &peer.Peer{AuthInfo: credentials.TLSInfo{}}, wantErr: authn.ErrNoCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := authn.New(trusted, tt.verifier)
			p, err := a.Authenticate(context.Background(), metadata.Pairs(tt.md...), tt.peer)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Name != tt.wantName {
				t.Errorf("principal = %q, want %q", p.Name, tt.wantName)
			}
			actor, _ := authn.Actor(authn.NewContext(context.Background(), p))
			if actor.Name != tt.wantActor {
				t.Errorf("actor = %q, want %q", actor.Name, tt.wantActor)
			}
			if actor.SessionID != tt.wantSession {
				t.Errorf("actor session = %q, want %q", actor.SessionID, tt.wantSession)
			}
			if p.OnBehalfOf != nil && p.OnBehalfOf.Organization != "organizations/o2" {
				t.Errorf("actor organization = %q, want organizations/o2", p.OnBehalfOf.Organization)
			}
		})
	}
}

func TestNothingTrustedVerifiesNothing(t *testing.T) {
	cred := newCredential(t)
	for name, services := range map[string]authn.ServiceVerifier{"nil": nil, "zero": authn.TrustedServices{}} {
		a := authn.New(services, nil)
		_, err := a.Authenticate(context.Background(), metadata.Pairs("authorization", cred.AuthorizationFor("access")), nil)
		if !errors.Is(err, authn.ErrUnauthenticated) {
			t.Errorf("%s: err = %v, want ErrUnauthenticated", name, err)
		}
	}
}

// TestClientAddress is contract C1 on the receiving side: the address the
// gateway vouches for is taken only from the gateway.
func TestClientAddress(t *testing.T) {
	gateway := newCredential(t)
	access, err := authn.NewServiceCredential([]byte(strings.Repeat("a", 32)))
	if err != nil {
		t.Fatal(err)
	}
	a := authn.New(authn.TrustedServices{}.With("gateway", gateway).With("access", access), nil).(authn.ClientAddresser)
	tcpPeer := &peer.Peer{Addr: &net.TCPAddr{IP: net.ParseIP("10.0.0.9"), Port: 5555}}
	certPeer := tlsPeer("steward-gateway")
	certPeer.Addr = tcpPeer.Addr
	proxy := func(v string) []string { return []string{authn.MDProxyAuthorization, v} }
	spoofed := []string{authn.MDClientAddress, "203.0.113.7"}

	tests := []struct {
		name     string
		md       []string
		peer     *peer.Peer
		want     string
		badProxy bool
	}{
		{name: "no peer", want: ""},
		{name: "transport peer", peer: tcpPeer, want: "10.0.0.9"},
		{name: "spoofed address without proxy credential", md: spoofed, peer: tcpPeer, want: "10.0.0.9"},
		{name: "spoofed address with another service's credential", md: append(proxy(access.AuthorizationFor("access")), spoofed...), peer: tcpPeer, want: "10.0.0.9"},
		{name: "another service's secret named gateway", md: append(proxy(access.AuthorizationFor("gateway")), spoofed...), peer: tcpPeer, want: "10.0.0.9", badProxy: true},
		{name: "garbage proxy credential", md: append(proxy("Bearer x"), spoofed...), peer: tcpPeer, want: "10.0.0.9", badProxy: true},
		{name: "the gateway's credential", md: append(proxy(gateway.AuthorizationFor("gateway")), spoofed...), peer: tcpPeer, want: "203.0.113.7"},
		{name: "the gateway's credential, IPv6", md: append(proxy(gateway.AuthorizationFor("gateway")), authn.MDClientAddress, "2001:db8::1"), peer: tcpPeer, want: "2001:db8::1"},
		{name: "the gateway's credential, IPv4-mapped", md: append(proxy(gateway.AuthorizationFor("gateway")), authn.MDClientAddress, "::ffff:192.0.2.1"), peer: tcpPeer, want: "192.0.2.1"},
		{name: "the gateway's credential, not an IP", md: append(proxy(gateway.AuthorizationFor("gateway")), authn.MDClientAddress, "example.com"), peer: tcpPeer, want: "10.0.0.9"},
		{name: "the gateway's credential, two addresses", md: append(proxy(gateway.AuthorizationFor("gateway")), authn.MDClientAddress, "192.0.2.1", authn.MDClientAddress, "192.0.2.2"), peer: tcpPeer, want: "10.0.0.9"},
		{name: "the gateway's credential, no address", md: proxy(gateway.AuthorizationFor("gateway")), peer: tcpPeer, want: "10.0.0.9"},
		{name: "the gateway's client certificate", md: spoofed, peer: certPeer, want: "203.0.113.7"},
		{name: "another service's client certificate", md: spoofed, peer: tlsPeer("steward-access"), want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, bad := a.ClientAddress(metadata.Pairs(tt.md...), tt.peer)
			if got != tt.want || bad != tt.badProxy {
				t.Errorf("ClientAddress = %q, bad proxy %v; want %q, %v", got, bad, tt.want, tt.badProxy)
			}
		})
	}
}
