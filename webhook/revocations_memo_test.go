package webhook

import (
	"maps"
	"net/http"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kooper-io/kooper/api/licensekey"
	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// memoKeys lists the keys m holds, whether or not their TTL has passed.
func memoKeys[T any](m *ttlMemo[T]) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.entries))
}

// TestTheReceiversMemosDropEntriesOnceTheirTTLHasPassed: the TTL decided
// only whether an entry was answered again; the entry itself stayed until
// the memo held 10,000 keys, so a long-running receiver kept the last
// signed list of every product and format ever asked, the gone-licence
// list of every product (deleted ones too) and every refusal. An entry
// older than its TTL is dropped when the memo next stores one.
func TestTheReceiversMemosDropEntriesOnceTheirTTLHasPassed(t *testing.T) {
	for _, tt := range []struct {
		memo string
		ttl  time.Duration
	}{{"signed lists", revocationListTTL}, {"gone licences", goneLicencesTTL}} {
		t.Run(tt.memo, func(t *testing.T) {
			g := NewWithT(t)
			now := time.Unix(1_700_000_000, 0)
			m := &ttlMemo[string]{now: func() time.Time { return now }, ttl: tt.ttl}
			build := func(v string) func() (string, error) { return func() (string, error) { return v, nil } }
			for _, key := range []string{"deleted-product/JWS", "made-up-name/"} {
				_, err := m.get(key, build(key))
				g.Expect(err).NotTo(HaveOccurred())
			}
			now = now.Add(tt.ttl - time.Millisecond)
			_, _ = m.get("crm/JWS", build("within the TTL of the others"))
			g.Expect(memoKeys(m)).To(ConsistOf("deleted-product/JWS", "made-up-name/", "crm/JWS"), "none has outlived its TTL")

			now = now.Add(time.Millisecond)
			_, _ = m.get("crm/Legacy", build("a TTL after the first two"))
			g.Expect(memoKeys(m)).To(ConsistOf("crm/JWS", "crm/Legacy"), "the two built a TTL ago are gone")
		})
	}
}

// TestARevocationListAskedWithoutAFormatIsKeptUnderTheFormatItIsSignedIn:
// a poll without format= and one naming the product's own format asked for
// the same list, but the memo kept (and signed) it twice, under "" and the
// format's name. The format a poll leaves out is resolved from the cached
// product, so both share one entry and one build; a product whose format
// is Legacy keeps its JWS list apart.
func TestARevocationListAskedWithoutAFormatIsKeptUnderTheFormatItIsSignedIn(t *testing.T) {
	for _, tt := range []struct {
		name   string
		format saasv1alpha1.LicenseKeyFormat // the product's license.keyFormat
		asked  []licensekey.Format
		kept   []licensekey.Format
	}{
		{"kooper's default", "", []licensekey.Format{"", licensekey.FormatJWS}, []licensekey.Format{licensekey.FormatJWS}},
		{"the product's Legacy", saasv1alpha1.LicenseKeyFormatLegacy,
			[]licensekey.Format{"", licensekey.FormatLegacy, licensekey.FormatJWS}, []licensekey.Format{licensekey.FormatLegacy, licensekey.FormatJWS}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			f, _ := newLicenceFixtureWithSigningKey(t)
			if tt.format != "" {
				f.product.Spec.License = &saasv1alpha1.LicensePolicy{KeyFormat: tt.format}
				g.Expect(k8sClient.Update(ctxFor(t), f.product)).To(Succeed())
			}
			g.Eventually(func(g Gomega) {
				cached := &saasv1alpha1.SaaSProduct{}
				g.Expect(receiver.client.Get(ctxFor(t), client.ObjectKeyFromObject(f.product), cached)).To(Succeed())
				g.Expect(cached.Spec.GetLicenseKeyFormat("")).To(Equal(f.product.Spec.GetLicenseKeyFormat("")))
			}).Should(Succeed())
			// A receiver of its own whose clock stands still: every list
			// it builds is within its TTL, so none is dropped meanwhile.
			opts := DefaultOptions()
			opts.Namespace = operatorNamespace
			now := time.Now()
			opts.Now = func() time.Time { return now }
			r, err := NewReceiver(receiver.client, receiver.reader, opts)
			g.Expect(err).NotTo(HaveOccurred())

			bodies := map[licensekey.Format]string{}
			for _, format := range tt.asked {
				body, status, err := r.revocationList(ctxFor(t), f.product.Name, format)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(status).To(Equal(http.StatusOK))
				bodies[format] = string(body)
			}
			var want []string
			for _, format := range tt.kept {
				want = append(want, f.product.Name+"/"+string(format))
			}
			g.Expect(memoKeys(&r.revocationLists.ttlMemo)).To(ConsistOf(want))
			g.Expect(bodies[""]).To(Equal(bodies[licensekey.Format(f.product.Spec.GetLicenseKeyFormat(""))]), "the list in the product's format")
		})
	}
}
