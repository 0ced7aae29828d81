package ledger

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"steward.dev/pkg/store"
)

// SignerName is the name of the checkpoint key, the first field of its
// verifier key text and of its signature lines.
const SignerName = "steward-audit"

// formatCheckpoint returns the C2SP tlog-checkpoint body of a tree.
func formatCheckpoint(origin string, size int64, root tlog.Hash) string {
	return fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root[:]))
}

// parseCheckpoint parses a C2SP tlog-checkpoint body: origin, decimal size
// and base64 root lines, then optional extension lines, which are ignored.
func parseCheckpoint(text string) (origin string, size int64, root tlog.Hash, err error) {
	lines := strings.SplitAfterN(text, "\n", 4)
	if len(lines) < 3 || !strings.HasSuffix(lines[2], "\n") {
		return "", 0, tlog.Hash{}, errors.New("checkpoint: want origin, size and root lines")
	}
	origin = strings.TrimSuffix(lines[0], "\n")
	sizeText := strings.TrimSuffix(lines[1], "\n")
	rootText := strings.TrimSuffix(lines[2], "\n")
	if origin == "" {
		return "", 0, tlog.Hash{}, errors.New("checkpoint: empty origin")
	}
	size, err = strconv.ParseInt(sizeText, 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != sizeText {
		return "", 0, tlog.Hash{}, fmt.Errorf("checkpoint: malformed size %q", sizeText)
	}
	b, err := base64.StdEncoding.Strict().DecodeString(rootText)
	if err != nil || len(b) != tlog.HashSize {
		return "", 0, tlog.Hash{}, fmt.Errorf("checkpoint: malformed root hash %q", rootText)
	}
	return origin, size, tlog.Hash(b), nil
}

// checkpointSize reads the size of a signed checkpoint note without verifying
// its signature.
func checkpointSize(msg []byte) (int64, bool) {
	text, _, ok := bytes.Cut(msg, []byte("\n\n"))
	if !ok {
		return 0, false
	}
	_, size, _, err := parseCheckpoint(string(text) + "\n")
	return size, err == nil
}

// OpenCheckpoint verifies the signed checkpoint note msg with v and returns
// the checkpoint it states. A note signed by another key, with a bad
// signature, or whose body is not a tlog-checkpoint is an error.
func OpenCheckpoint(msg []byte, v note.Verifier) (Checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint signature: %w", err)
	}
	origin, size, root, err := parseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	return Checkpoint{Origin: origin, Size: size, Root: root, Note: bytes.Clone(msg)}, nil
}

// keySigner is the signer LoadSigner returns: a note signer that knows its
// verifier, so that New verifies checkpoints with the public key.
type keySigner struct {
	note.Signer
	v note.Verifier
}

// Verifier returns the verifier of s's signatures.
func (s keySigner) Verifier() note.Verifier { return s.v }

// LoadSigner returns the audit service's checkpoint signer kept in st (created
// with crypto/rand on first use, in one transaction, under the single store
// key "ledger/signer"; a second call or a restart returns the same key), its
// verifier and the verifier key text ("<name>+<hash>+<key>",
// note.NewEd25519VerifierKey; name "steward-audit"). A stored key that does
// not decode is an error and is left as it is.
func LoadSigner(ctx context.Context, st store.Store) (note.Signer, note.Verifier, string, error) {
	var skey string
	err := st.Update(ctx, func(tx store.Tx) error {
		b, err := tx.Get([]byte(SignerKey))
		if err == nil {
			skey = string(b)
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("ledger: load signer: %w", err)
		}
		s, _, err := note.GenerateKey(rand.Reader, SignerName)
		if err != nil {
			return fmt.Errorf("ledger: generate signer: %w", err)
		}
		skey = s
		return tx.Put([]byte(SignerKey), []byte(skey))
	})
	if err != nil {
		return nil, nil, "", err
	}
	return decodeSigner(skey)
}

// decodeSigner returns the signer of the note signer key text skey, its
// verifier and verifier key text.
func decodeSigner(skey string) (note.Signer, note.Verifier, string, error) {
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, nil, "", fmt.Errorf("ledger: stored signer key: %w", err)
	}
	if signer.Name() != SignerName {
		return nil, nil, "", fmt.Errorf("ledger: stored signer key is named %q, not %q", signer.Name(), SignerName)
	}
	// "PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>"; NewSigner checked
	// the shape, the algorithm and that the hash is the public key's.
	fields := strings.SplitN(skey, "+", 5)
	key, err := base64.StdEncoding.DecodeString(fields[len(fields)-1])
	if err != nil || len(key) != 1+ed25519.SeedSize {
		return nil, nil, "", errors.New("ledger: stored signer key is not an Ed25519 key")
	}
	pub := ed25519.NewKeyFromSeed(key[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(SignerName, pub)
	if err != nil {
		return nil, nil, "", fmt.Errorf("ledger: %w", err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, nil, "", fmt.Errorf("ledger: %w", err)
	}
	if verifier.KeyHash() != signer.KeyHash() {
		return nil, nil, "", errors.New("ledger: stored signer key does not match its hash")
	}
	return keySigner{signer, verifier}, verifier, vkey, nil
}
