package koogallery

import (
	"encoding/json"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// nestedBody returns a body whose top-level object holds a non-ASCII key
// (so every canonical form is written) and a member nested levels objects
// deep: the body's nesting depth is levels+1, the top-level object
// included.
func nestedBody(levels int) []byte {
	var b strings.Builder
	b.WriteString(`{"é":1,"a":`)
	b.WriteString(strings.Repeat(`{"a":`, levels))
	b.WriteString(`1`)
	b.WriteString(strings.Repeat(`}`, levels+1))
	return []byte(b.String())
}

// bytesAllocated returns the bytes f allocates on the heap.
func bytesAllocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestADeeplyNestedBodyIsRefusedCheaply: a body of about 60 KB nested
// 10,000 deep (json.Valid's own limit) is valid JSON, but re-serialising it
// member by member copies about 3·depth² bytes per canonical form. Anyone
// can send it before being authenticated, so it must be refused as
// malformed before that work, at a cost in proportion to its size.
func TestADeeplyNestedBodyIsRefusedCheaply(t *testing.T) {
	now := time.Now()
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	anySignature := SignedQuery{Signature: strings.Repeat("ab", 32), Timestamp: ts, Nonce: "n0nce"}
	verifier := Verifier{Now: func() time.Time { return now }}

	t.Run("a body nested 10,000 deep", func(t *testing.T) {
		g := NewWithT(t)
		body := nestedBody(9_998)
		g.Expect(len(body)).To(BeNumerically("<", 64<<10))
		g.Expect(json.Valid(body)).To(BeTrue(), "the body is valid JSON: it is its depth that is refused")

		var err error
		allocated := bytesAllocated(func() { _, _, err = verifier.VerifyBasic([]string{"k"}, anySignature, body) })
		g.Expect(err).To(MatchError(ErrMalformedBody))
		g.Expect(err).To(MatchError(ContainSubstring(strconv.Itoa(maxNesting))))
		g.Expect(CodeOf(err)).To(Equal(ResultInvalidParam))
		g.Expect(allocated).To(BeNumerically("<", 10*len(body)), "bytes allocated to refuse a %d-byte body", len(body))
		t.Logf("refused a %d-byte body with %d bytes allocated", len(body), allocated)

		allocated = bytesAllocated(func() { _, _, err = verifier.VerifyKit([]string{"k"}, anySignature, body) })
		g.Expect(err).To(MatchError(ErrMalformedBody))
		g.Expect(allocated).To(BeNumerically("<", 10*len(body)), "bytes allocated to refuse a %d-byte kit body", len(body))

		_, err = CanonicalPayload(body)
		g.Expect(err).To(MatchError(ErrMalformedBody))
		_, err = DecodeKitRequest(KitTenantSync, body)
		g.Expect(err).To(MatchError(ErrMalformedBody))
	})

	t.Run("one level past the bound", func(t *testing.T) {
		g := NewWithT(t)
		_, err := CanonicalPayload(nestedBody(maxNesting))
		g.Expect(err).To(MatchError(ErrMalformedBody))
		_, err = CanonicalPayload([]byte(`{"a":` + strings.Repeat(`[`, maxNesting) + strings.Repeat(`]`, maxNesting) + `}`))
		g.Expect(err).To(MatchError(ErrMalformedBody), "arrays count as objects do")
	})

	t.Run("a body at the bound is signed and verified in every form", func(t *testing.T) {
		g := NewWithT(t)
		body := nestedBody(maxNesting - 1)
		for _, form := range DefaultCanonicalForms {
			payload, err := CanonicalPayloadForm(body, form)
			g.Expect(err).NotTo(HaveOccurred())
			q := SignedQuery{Signature: SignBasic("k", "n0nce", ts, payload), Timestamp: ts, Nonce: "n0nce"}
			_, _, err = verifier.VerifyBasic([]string{"k"}, q, body)
			g.Expect(err).NotTo(HaveOccurred(), "form %s", form)
		}
		payload, err := CanonicalPayload(body)
		g.Expect(err).NotTo(HaveOccurred())
		q := SignedQuery{Signature: SignKit("k", "n0nce", ts, payload), Timestamp: ts, Nonce: "n0nce"}
		_, _, err = verifier.VerifyKit([]string{"k"}, q, body)
		g.Expect(err).NotTo(HaveOccurred())
	})

	t.Run("brackets inside strings do not count", func(t *testing.T) {
		g := NewWithT(t)
		deep := strings.Repeat(`[{`, 100)
		body := `{"a":"` + deep + `","b":{"c":"\"` + deep + `"},"d":["\\",` + `"` + deep + `"]}`
		payload, err := CanonicalPayload([]byte(body))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(string(payload)).To(Equal(body))
	})
}
