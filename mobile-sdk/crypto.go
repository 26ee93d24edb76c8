package mobilesdk

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"io"

	"github.com/joinedup/joinedup/syncengine"
)

// KeySize is the length of the at-rest key the host passes from the platform
// keystore (Android Keystore / iOS Keychain): AES-256.
const KeySize = 32

// sealer encrypts what the local database stores about people: record
// states (narrative text, young people's details), outbox and inbox bodies,
// and the device credential. Each blob is bound to its row by additional
// data, so a blob copied into another row does not decrypt.
type sealer struct {
	aead cipher.AEAD
	rand io.Reader
}

func newSealer(key []byte) (*sealer, error) {
	if len(key) != KeySize {
		return nil, syncengine.Errorf(syncengine.EINVALID, "open", "the at-rest key must be %d bytes, not %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("gcm: %w", err)
	}
	// Nonces always come from the system's CSPRNG: 96 random bits per blob
	// is safe for far more writes than a phone makes in its life.
	return &sealer{aead: aead, rand: rand.Reader}, nil
}

func (s *sealer) seal(ad string, plain []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := io.ReadFull(s.rand, nonce); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	return s.aead.Seal(nonce, nonce, plain, []byte(ad)), nil
}

func (s *sealer) open(ad string, blob []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(blob) < n+s.aead.Overhead() {
		return nil, syncengine.Errorf(ECORRUPT, "decrypt", "stored blob is too short")
	}
	plain, err := s.aead.Open(nil, blob[:n], blob[n:], []byte(ad))
	if err != nil {
		return nil, syncengine.Errorf(EWRONGKEY, "decrypt", "local data does not decrypt with this key")
	}
	return plain, nil
}
