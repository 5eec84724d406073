// Package specsign signs basic callbacks as spec §2.1.2 describes, written
// from the spec alone, for tests only: the verifier in internal/koogallery
// is checked against it, and a bug the verifier and a signer built on it
// would share cannot make both agree. It imports nothing of kooper's.
package specsign

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Payload is §2.1.2 step 4: the body's top-level keys sorted, nulls
// dropped, compact JSON, nested values in received order. With stringMap,
// each top-level number or boolean is written as a string, as the
// marketplace's sample holds a body it reads as Map<String,String>. The
// body must be a JSON object.
func Payload(body string, stringMap bool) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &top); err != nil {
		return nil, fmt.Errorf("body is not a JSON object: %w", err)
	}
	keys := make([]string, 0, len(top))
	for k := range top {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out bytes.Buffer
	out.WriteByte('{')
	for _, k := range keys {
		var value bytes.Buffer
		if err := json.Compact(&value, top[k]); err != nil {
			return nil, err
		}
		v := value.String()
		if v == "null" {
			continue
		}
		if out.Len() > 1 {
			out.WriteByte(',')
		}
		out.WriteString(`"` + k + `":`)
		if stringMap && !strings.ContainsAny(v[:1], `"{[`) {
			v = `"` + v + `"`
		}
		out.WriteString(v)
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}

// Signature is §2.1.2 steps 5–7: both HMAC-SHA256s keyed with the access
// key, in lower-case hex.
func Signature(key, nonce, timestamp string, payload []byte) string {
	mac := func(msg []byte) string {
		h := hmac.New(sha256.New, []byte(key))
		h.Write(msg)
		return hex.EncodeToString(h.Sum(nil))
	}
	return mac([]byte(key + nonce + timestamp + mac(payload)))
}
