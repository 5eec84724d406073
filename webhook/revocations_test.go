package webhook

import (
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/kooper-io/kooper/api/licensekey"
	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

func TestRevokedInstancesListsEachFrozenOrReleasedInstanceOnce(t *testing.T) {
	licence := func(product, instance string, state saasv1alpha1.SubscriptionState) saasv1alpha1.License {
		return saasv1alpha1.License{Spec: saasv1alpha1.LicenseSpec{ProductName: product, InstanceID: instance, State: state}}
	}
	tests := []struct {
		name     string
		licences []saasv1alpha1.License
		gone     []string
		want     []licensekey.Revocation
	}{
		{"none", nil, nil, []licensekey.Revocation{}},
		{"active only", []saasv1alpha1.License{licence("p", "i-1", saasv1alpha1.StateActive)}, nil, []licensekey.Revocation{}},
		{"frozen and released", []saasv1alpha1.License{
			licence("p", "i-1", saasv1alpha1.StateFrozen), licence("p", "i-2", saasv1alpha1.StateReleased),
		}, nil, []licensekey.Revocation{{InstanceID: "i-1", Reason: licensekey.ReasonFrozen}, {InstanceID: "i-2", Reason: licensekey.ReasonReleased}}},
		{"released wins over frozen, in either order", []saasv1alpha1.License{
			licence("p", "i-1", saasv1alpha1.StateReleased), licence("p", "i-1", saasv1alpha1.StateFrozen),
			licence("p", "i-2", saasv1alpha1.StateFrozen), licence("p", "i-2", saasv1alpha1.StateReleased),
		}, nil, []licensekey.Revocation{{InstanceID: "i-1", Reason: licensekey.ReasonReleased}, {InstanceID: "i-2", Reason: licensekey.ReasonReleased}}},
		{"other products are left out", []saasv1alpha1.License{licence("q", "i-9", saasv1alpha1.StateReleased)}, nil, []licensekey.Revocation{}},
		{"a gone instance is released, even with an application still active", []saasv1alpha1.License{licence("p", "i-3", saasv1alpha1.StateActive)},
			[]string{"i-3", "i-4"}, []licensekey.Revocation{{InstanceID: "i-3", Reason: licensekey.ReasonReleased}, {InstanceID: "i-4", Reason: licensekey.ReasonReleased}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			NewWithT(t).Expect(revokedInstances(tt.licences, "p", tt.gone)).To(ConsistOf(tt.want))
		})
	}
}

// The revocation list is public and polled: a list, or a refusal, built
// less than revocationListTTL ago is answered again, per product and format
// (issue 26's kind: a read of every licence, or of the API server, on every
// poll).
func TestARevocationListIsSignedOncePerTTL(t *testing.T) {
	g := NewWithT(t)
	now := time.Unix(1_700_000_000, 0)
	m := &listMemo{ttlMemo[builtList]{now: func() time.Time { return now }, ttl: revocationListTTL}}
	builds := 0
	signs := func(token string, status int, err error) func() ([]byte, int, error) {
		return func() ([]byte, int, error) { builds++; return []byte(token), status, err }
	}
	get := func(key string, build func() ([]byte, int, error)) string {
		body, status, err := m.get(key, build)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(status).To(Equal(http.StatusOK))
		return string(body)
	}

	g.Expect(get("crm/JWS", signs("first", http.StatusOK, nil))).To(Equal("first"))
	now = now.Add(revocationListTTL - time.Millisecond)
	g.Expect(get("crm/JWS", signs("second", http.StatusOK, nil))).To(Equal("first"), "within the TTL")
	g.Expect(get("crm/Legacy", signs("legacy", http.StatusOK, nil))).To(Equal("legacy"), "another format is another list")
	g.Expect(builds).To(Equal(2))

	now = now.Add(time.Millisecond)
	g.Expect(get("crm/JWS", signs("second", http.StatusOK, nil))).To(Equal("second"), "a TTL after its signing")

	now = now.Add(revocationListTTL)
	refusal := errors.New("no signing key")
	for range 2 {
		_, status, err := m.get("crm/JWS", signs("", http.StatusServiceUnavailable, refusal))
		g.Expect(err).To(MatchError(refusal))
		g.Expect(status).To(Equal(http.StatusServiceUnavailable))
	}
	g.Expect(builds).To(Equal(4), "a refusal is kept for the TTL too")
	now = now.Add(revocationListTTL)
	g.Expect(get("crm/JWS", signs("third", http.StatusOK, nil))).To(Equal("third"), "then built again")
	g.Expect(builds).To(Equal(5))
}

// Polls that arrive together while no list is kept share one build.
func TestPollsArrivingTogetherShareOneBuild(t *testing.T) {
	g := NewWithT(t)
	now := time.Unix(1_700_000_000, 0)
	m := &listMemo{ttlMemo[builtList]{now: func() time.Time { return now }, ttl: revocationListTTL}}
	var builds atomic.Int32
	release := make(chan struct{})
	build := func() ([]byte, int, error) {
		builds.Add(1)
		<-release
		return []byte("list"), http.StatusOK, nil
	}
	const polls = 64
	tokens := make(chan string, polls)
	var wg sync.WaitGroup
	for range polls {
		wg.Go(func() {
			body, _, _ := m.get("crm/JWS", build)
			tokens <- string(body)
		})
	}
	g.Eventually(builds.Load).Should(Equal(int32(1)))
	close(release)
	wg.Wait()
	close(tokens)
	for token := range tokens {
		g.Expect(token).To(Equal("list"))
	}
	g.Expect(builds.Load()).To(Equal(int32(1)))
}
