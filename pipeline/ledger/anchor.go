package ledger

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/leadpipe/leadpipe/analytics"
)

// Anchor is the anchor row of a partition's head at a time, signed with key
// when key is not nil.
func Anchor(topic string, partition int, h Head, at time.Time, key ed25519.PrivateKey) analytics.AnchorRow {
	a := analytics.AnchorRow{
		Origin: analytics.Origin{Topic: topic, Partition: int32(partition), Offset: h.Offset},
		Head:   h.Hash, At: at.UTC().Truncate(time.Second),
	}
	if key != nil {
		a.KeyID = KeyID(key.Public().(ed25519.PublicKey))
		a.Signature = hex.EncodeToString(ed25519.Sign(key, anchorMessage(&a)))
	}
	return a
}

// CheckSignature reports whether the anchor is signed by pub.
func CheckSignature(a *analytics.AnchorRow, pub ed25519.PublicKey) bool {
	sig, err := hex.DecodeString(a.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(pub, anchorMessage(a), sig)
}

// anchorMessage is what an anchor's signature covers: its place, head and
// time, and the key id.
func anchorMessage(a *analytics.AnchorRow) []byte {
	h := sha256.New()
	c := canon{h: h}
	c.str("leadpipe ledger anchor v1")
	c.str(a.Topic)
	c.int(int64(a.Partition))
	c.int(a.Offset)
	c.str(a.Head)
	c.int(a.At.Unix())
	c.str(a.KeyID)
	return h.Sum(nil)
}

// KeyID names a public key: the first 16 hex digits of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// LoadPrivateKey reads an Ed25519 private key from a PEM file in PKCS #8
// ("PRIVATE KEY", as `openssl genpkey -algorithm ed25519` and `leadpipe
// ledger keygen` write it). Errors name the file, never its content.
func LoadPrivateKey(file string) (ed25519.PrivateKey, error) {
	der, err := pemBlock(file, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%s: not a PKCS #8 private key", file)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: a %T, not an Ed25519 key", file, k)
	}
	return key, nil
}

// LoadPublicKey reads an Ed25519 public key from a PEM file ("PUBLIC KEY",
// as `openssl pkey -pubout` and `leadpipe ledger keygen` write it).
func LoadPublicKey(file string) (ed25519.PublicKey, error) {
	der, err := pemBlock(file, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("%s: not a PKIX public key", file)
	}
	key, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s: a %T, not an Ed25519 key", file, k)
	}
	return key, nil
}

func pemBlock(file, kind string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", file)
	}
	if block.Type != kind {
		return nil, fmt.Errorf("%s: a PEM %q block, want %q", file, block.Type, kind)
	}
	return block.Bytes, nil
}

// WriteKeys writes a new Ed25519 key pair: the private key to private
// (PKCS #8 PEM, mode 0600) and the public key to public (PKIX PEM). It
// refuses to overwrite a file.
func WriteKeys(private, public string) (ed25519.PublicKey, error) {
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	pd, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name, kind string
		der        []byte
		mode       os.FileMode
	}{{private, "PRIVATE KEY", kd, 0o600}, {public, "PUBLIC KEY", pd, 0o644}} {
		fh, err := os.OpenFile(f.name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.mode)
		if err != nil {
			if errors.Is(err, os.ErrExist) {
				return nil, fmt.Errorf("%s exists: choose another file, or remove it first", f.name)
			}
			return nil, err
		}
		err = pem.Encode(fh, &pem.Block{Type: f.kind, Bytes: f.der})
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
	}
	return pub, nil
}
