package credential

import (
	"errors"
	"strings"
	"testing"
)

func TestHashPassword(t *testing.T) {
	h1, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h1, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("HashPassword = %q, want argon2id PHC string with OWASP parameters", h1)
	}
	h2, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if h1 == h2 {
		t.Error("two hashes of one password are equal; salt not random")
	}
	for _, tc := range []struct {
		password string
		want     bool
	}{
		{"correct horse", true},
		{"correct horse ", false},
		{"Correct horse", false},
		{"", false},
	} {
		got, err := VerifyPassword(h1, tc.password)
		if err != nil || got != tc.want {
			t.Errorf("VerifyPassword(%q) = %v, %v; want %v, nil", tc.password, got, err, tc.want)
		}
	}
}

// TestVerifyPasswordStoredParameters checks that verification uses the
// parameters in the hash, not the current defaults.
func TestVerifyPasswordStoredParameters(t *testing.T) {
	h := argonHash{memory: 64, time: 1, threads: 2, salt: []byte("saltsaltsalt")}
	h.key = make([]byte, 16)
	h.key = h.compute("pw")
	encoded := h.String()
	if want := "$argon2id$v=19$m=64,t=1,p=2$c2FsdHNhbHRzYWx0$"; !strings.HasPrefix(encoded, want) {
		t.Fatalf("encoded = %q, want prefix %q", encoded, want)
	}
	if ok, err := VerifyPassword(encoded, "pw"); !ok || err != nil {
		t.Errorf("VerifyPassword(right) = %v, %v; want true, nil", ok, err)
	}
	if ok, err := VerifyPassword(encoded, "pv"); ok || err != nil {
		t.Errorf("VerifyPassword(wrong) = %v, %v; want false, nil", ok, err)
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	const salt, key = "c2FsdHNhbHRzYWx0", "AAAAAAAAAAAAAAAAAAAAAA"
	valid := "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key
	if _, err := parseHash(valid); err != nil {
		t.Fatalf("parseHash(valid) = %v", err)
	}
	for _, tc := range []struct {
		name, encoded string
	}{
		{"empty", ""},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"old version", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key},
		{"no version", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key},
		{"leading text", "x$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"trailing field", valid + "$"},
		{"params reordered", "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key},
		{"extra param", "$argon2id$v=19$m=64,t=1,p=1,k=1$" + salt + "$" + key},
		{"memory too big", "$argon2id$v=19$m=4194304,t=1,p=1$" + salt + "$" + key},
		{"memory overflows", "$argon2id$v=19$m=99999999999,t=1,p=1$" + salt + "$" + key},
		{"memory below lanes", "$argon2id$v=19$m=15,t=1,p=2$" + salt + "$" + key},
		{"time zero", "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key},
		{"time too big", "$argon2id$v=19$m=64,t=11,p=1$" + salt + "$" + key},
		{"threads too big", "$argon2id$v=19$m=256,t=1,p=17$" + salt + "$" + key},
		{"leading zero", "$argon2id$v=19$m=064,t=1,p=1$" + salt + "$" + key},
		{"plus sign", "$argon2id$v=19$m=+64,t=1,p=1$" + salt + "$" + key},
		{"negative", "$argon2id$v=19$m=64,t=-1,p=1$" + salt + "$" + key},
		{"salt too short", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + key},
		{"salt padded", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0cw==$" + key},
		{"salt not base64", "$argon2id$v=19$m=64,t=1,p=1$c2Fsd*NhbHRzYWx0$" + key},
		{"hash too short", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$AAAAAAAAAAAAAAAAAAAA"},
		{"hash too long", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("A", 88)},
		{"salt line break", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNh\nbHRzYWx0$" + key},
		{"hash trailing bits", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$AAAAAAAAAAAAAAAAAAAAAB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := VerifyPassword(tc.encoded, "pw")
			if ok || !errors.Is(err, ErrMalformedHash) {
				t.Errorf("VerifyPassword(%q) = %v, %v; want false, ErrMalformedHash", tc.encoded, ok, err)
			}
		})
	}
}

// TestDummyHashParameters keeps dummyHash costing what HashPassword's hashes
// cost, so VerifyDummy takes as long as a real verification.
func TestDummyHashParameters(t *testing.T) {
	if dummy.memory != argonMemory || dummy.time != argonTime || dummy.threads != argonThreads ||
		len(dummy.key) != argonKeyLen || len(dummy.salt) != argonSaltLen {
		t.Errorf("dummyHash %q does not use HashPassword's parameters; regenerate it", dummyHash)
	}
	VerifyDummy("anything") // must not panic
}

func FuzzParseHash(f *testing.F) {
	f.Add(dummyHash)
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2id$v=19$m=262144,t=10,p=16$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$$")
	f.Add("$argon2id$$$$")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parseHash(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("parseHash(%q) error %v does not wrap ErrMalformedHash", s, err)
			}
			return
		}
		if h.memory > maxMemory || h.time < 1 || h.time > maxTime || h.threads < 1 || h.threads > maxThreads ||
			len(h.salt) < minSaltLen || len(h.salt) > maxSaltLen || len(h.key) < minKeyLen || len(h.key) > maxKeyLen {
			t.Fatalf("parseHash(%q) accepted out-of-bounds parameters %+v", s, h)
		}
		if got := h.String(); got != s {
			t.Fatalf("parseHash(%q) formats back as %q", s, got)
		}
	})
}
