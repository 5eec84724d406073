package koogallery

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // SHA1PRNG is defined on SHA-1; it derives a key, it does not protect integrity.
	"encoding/base64"
	"errors"
	"fmt"
)

// EncryptType is the encryptType response field: the cipher of
// appInfo.userName and appInfo.password (§4.1).
type EncryptType string

// Encryption types.
const (
	// EncryptAES256 is AES-256-CBC with PKCS#5 padding; it is the default
	// when encryptType is absent.
	EncryptAES256 EncryptType = "1"
	// EncryptAES128 is AES-128-CBC with PKCS#5 padding.
	EncryptAES128 EncryptType = "2"
)

// MaxCredentialLength is the maximum length of appInfo.userName and
// appInfo.password, measured on the encrypted value including the IV (§3.2).
const MaxCredentialLength = 128

// ivLength is the number of IV characters in front of the ciphertext.
const ivLength = 16

// ivAlphabet is the set the marketplace's IVs are drawn from (§4.1 step 3).
const ivAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// SHA1PRNG returns the first n bytes that Java's "SHA1PRNG" SecureRandom
// produces after setSeed(seed) on a fresh instance. The marketplace derives
// its AES keys this way (§4.1 step 2), so the algorithm, including Java's
// signed-byte carry when the state is advanced, must be reproduced exactly.
func SHA1PRNG(seed []byte, n int) []byte {
	if n <= 0 {
		return []byte{}
	}
	state := sha1.Sum(seed)
	out := make([]byte, n)
	for off := 0; off < n; off += sha1.Size {
		block := sha1.Sum(state[:])
		advanceState(&state, &block)
		copy(out[off:], block[:])
	}
	return out
}

// advanceState sets state = state + block + 1 the way Java's
// sun.security.provider.SecureRandom does: bytewise from index 0, with each
// byte read as a signed Java byte, so the carry can be -1, 0 or 1.
func advanceState(state, block *[sha1.Size]byte) {
	carry := 1
	changed := false
	for i := range state {
		v := int(int8(state[i])) + int(int8(block[i])) + carry
		t := byte(v)
		changed = changed || state[i] != t
		state[i] = t
		carry = v >> 8 // arithmetic shift, as in Java
	}
	// Java guarantees the state changes even if the sum left it intact.
	if !changed {
		state[0]++
	}
}

// AESKey derives the AES key for secret (the basic-interface key): 32 bytes
// for EncryptAES256 (or an empty type, the default) and 16 bytes for
// EncryptAES128.
func AESKey(secret string, t EncryptType) ([]byte, error) {
	switch t {
	case EncryptAES256, "":
		return SHA1PRNG([]byte(secret), 32), nil
	case EncryptAES128:
		return SHA1PRNG([]byte(secret), 16), nil
	}
	return nil, fmt.Errorf("unsupported encryptType %.8q, want %q or %q", string(t), EncryptAES256, EncryptAES128)
}

// Encrypt encrypts plaintext for appInfo with a fresh random IV, giving the
// IV's 16 characters followed by the Base64 ciphertext.
func Encrypt(secret string, t EncryptType, plaintext string) (string, error) {
	iv, err := randomIV()
	if err != nil {
		return "", err
	}
	return EncryptWithIV(secret, t, plaintext, iv)
}

// EncryptWithIV is Encrypt with a given IV, which must be exactly 16 ASCII
// letters or digits. It exists for test vectors; real values need Encrypt's
// random IV.
func EncryptWithIV(secret string, t EncryptType, plaintext, iv string) (string, error) {
	if !validIV(iv) {
		return "", errors.New("iv must be exactly 16 ASCII letters or digits")
	}
	block, err := newCipher(secret, t)
	if err != nil {
		return "", err
	}
	data := pkcs5Pad([]byte(plaintext), block.BlockSize())
	cipher.NewCBCEncrypter(block, []byte(iv)).CryptBlocks(data, data)
	return iv + base64.StdEncoding.EncodeToString(data), nil
}

// Decrypt reverses Encrypt: the first 16 characters are the IV and the rest
// is the Base64 ciphertext.
func Decrypt(secret string, t EncryptType, value string) (string, error) {
	if len(value) < ivLength || !validIV(value[:ivLength]) {
		return "", errors.New("encrypted value must start with a 16-character alphanumeric iv")
	}
	data, err := base64.StdEncoding.DecodeString(value[ivLength:])
	if err != nil {
		return "", fmt.Errorf("failed to decode ciphertext: %w", err)
	}
	if len(data) == 0 || len(data)%aes.BlockSize != 0 {
		return "", fmt.Errorf("ciphertext length %d is not a positive multiple of %d", len(data), aes.BlockSize)
	}
	block, err := newCipher(secret, t)
	if err != nil {
		return "", err
	}
	cipher.NewCBCDecrypter(block, []byte(value[:ivLength])).CryptBlocks(data, data)
	plain, err := pkcs5Unpad(data, aes.BlockSize)
	if err != nil {
		return "", err
	}
	return string(plain), nil
}

// EncryptCredential is Encrypt for appInfo.userName and appInfo.password: it
// fails when the result, IV included, is longer than MaxCredentialLength,
// because the marketplace rejects such values.
func EncryptCredential(secret string, t EncryptType, plaintext string) (string, error) {
	out, err := Encrypt(secret, t, plaintext)
	if err != nil {
		return "", err
	}
	if len(out) > MaxCredentialLength {
		return "", fmt.Errorf("encrypted credential is %d characters, longer than the %d allowed; shorten the %d-byte plaintext",
			len(out), MaxCredentialLength, len(plaintext))
	}
	return out, nil
}

// newCipher returns the AES block cipher for secret and t.
func newCipher(secret string, t EncryptType) (cipher.Block, error) {
	key, err := AESKey(secret, t)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("failed to create AES cipher: %w", err)
	}
	return block, nil
}

// randomIV draws 16 characters from ivAlphabet with crypto/rand, rejecting
// bytes that would bias the choice.
func randomIV() (string, error) {
	// 248 is the largest multiple of 62 that fits in a byte.
	const limit = 256 - 256%len(ivAlphabet)
	iv := make([]byte, 0, ivLength)
	buf := make([]byte, 32)
	for len(iv) < ivLength {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("failed to generate iv: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(iv) < ivLength {
				iv = append(iv, ivAlphabet[int(b)%len(ivAlphabet)])
			}
		}
	}
	return string(iv), nil
}

// validIV reports whether iv is exactly 16 ASCII letters or digits.
func validIV(iv string) bool {
	if len(iv) != ivLength {
		return false
	}
	for i := 0; i < len(iv); i++ {
		if !isAlnum(iv[i]) {
			return false
		}
	}
	return true
}

// isAlnum reports whether c is an ASCII letter or digit.
func isAlnum(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}

// pkcs5Pad appends PKCS#5 padding; a full block is added when the data is
// already aligned, so unpadding is unambiguous.
func pkcs5Pad(data []byte, size int) []byte {
	n := size - len(data)%size
	return append(bytes.Clone(data), bytes.Repeat([]byte{byte(n)}, n)...)
}

// pkcs5Unpad checks and removes PKCS#5 padding. A wrong key almost always
// shows up here, so the error says so.
func pkcs5Unpad(data []byte, size int) ([]byte, error) {
	errPad := errors.New("invalid padding: wrong key, wrong encryptType or corrupted value")
	if len(data) == 0 {
		return nil, errPad
	}
	n := int(data[len(data)-1])
	if n == 0 || n > size || n > len(data) {
		return nil, errPad
	}
	for _, b := range data[len(data)-n:] {
		if int(b) != n {
			return nil, errPad
		}
	}
	return data[:len(data)-n], nil
}
