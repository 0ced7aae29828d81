package backend_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/backend"
	"steward.dev/pkg/backend/backendtest"
	"steward.dev/pkg/grpcclient"
	"steward.dev/pkg/grpcserver"
	"steward.dev/pkg/testpki"
)

// tlsDirectory runs a directory serving TLS only on a loopback port, with
// client certificates of ca authenticating services, and returns its
// address.
func tlsDirectory(t *testing.T, ca *testpki.CA) string {
	t.Helper()
	cert, key := ca.Service(t, "directory")
	cfg := backendtest.Config(t, backend.Config{Name: "directory", EventLog: true, Services: backend.SuitePolicy})
	cfg.Network, cfg.Addr = grpcserver.NetworkTCP, "127.0.0.1:0"
	cfg.TLS = grpcserver.TLSConfig{CertFile: cert, KeyFile: key, ClientCAFile: ca.CAFile}
	b, err := cfg.Complete()
	if err != nil {
		t.Fatal(err)
	}
	backendtest.Run(t, b)
	return b.Server().Addr()
}

// peer runs audit (which may read the directory's log) configured with
// peerTLS for dialling the other services.
func peer(t *testing.T, peerTLS grpcclient.TLSConfig) *backend.Backend {
	t.Helper()
	cfg := backendtest.Config(t, backend.Config{Name: "audit"})
	cfg.PeerTLS = peerTLS
	b, err := cfg.Complete()
	if err != nil {
		t.Fatal(err)
	}
	backendtest.Run(t, b)
	return b
}

// listEvents calls the directory at addr as b, through b.Dial.
func listEvents(t *testing.T, b *backend.Backend, addr string) error {
	t.Helper()
	conn, err := b.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = eventlogv1.NewEventLogServiceClient(conn).ListEvents(context.Background(), &eventlogv1.ListEventsRequest{})
	return err
}

// A backend given -peer-tls-ca dials the other services over TLS; without
// it, or with a CA that did not sign their certificates, it cannot reach a
// service that serves TLS.
func TestPeerTLS(t *testing.T) {
	ca := testpki.New(t)
	addr := tlsDirectory(t, ca)

	if err := listEvents(t, peer(t, grpcclient.TLSConfig{CAFile: ca.CAFile}), addr); err != nil {
		t.Errorf("over TLS with the directory's CA: %v", err)
	}
	if err := listEvents(t, peer(t, grpcclient.TLSConfig{}), addr); status.Code(err) != codes.Unavailable {
		t.Errorf("in plaintext to a TLS server: %v, want Unavailable", err)
	}
	err := listEvents(t, peer(t, grpcclient.TLSConfig{CAFile: testpki.New(t).CAFile}), addr)
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("with another CA: %v, want Unavailable for the certificate", err)
	}
	// A server name the certificate does not hold.
	err = listEvents(t, peer(t, grpcclient.TLSConfig{CAFile: ca.CAFile, ServerName: "directory.elsewhere"}), addr)
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("with -peer-tls-server-name directory.elsewhere: %v, want Unavailable for the certificate", err)
	}
}

// With -peer-tls-cert and -peer-tls-key the service presents its client
// certificate, which authenticates it even when the callee does not know
// its secret.
func TestPeerMutualTLS(t *testing.T) {
	ca := testpki.New(t)
	addr := tlsDirectory(t, ca)
	// A subtest's backends get credentials of their own (backendtest), which
	// the directory's trusted services do not list.
	t.Run("stranger", func(t *testing.T) {
		cert, key := ca.Service(t, "audit")
		if err := listEvents(t, peer(t, grpcclient.TLSConfig{CAFile: ca.CAFile}), addr); status.Code(err) != codes.Unauthenticated {
			t.Errorf("an unknown secret, no certificate: %v, want Unauthenticated", err)
		}
		if err := listEvents(t, peer(t, grpcclient.TLSConfig{CAFile: ca.CAFile, CertFile: cert, KeyFile: key}), addr); err != nil {
			t.Errorf("an unknown secret, the service's certificate: %v", err)
		}
	})
}

func TestPeerTLSValidates(t *testing.T) {
	ca := testpki.New(t)
	cert, _ := ca.Service(t, "audit")
	cfg := backendtest.Config(t, backend.Config{Name: "audit"})
	cfg.PeerTLS = grpcclient.TLSConfig{CAFile: ca.CAFile, CertFile: cert}
	if _, err := cfg.Complete(); err == nil || !strings.Contains(err.Error(), "-peer-tls-key") {
		t.Errorf("Complete with -peer-tls-cert alone: %v, want an error naming -peer-tls-key", err)
	}
}
