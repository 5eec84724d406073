package webhook

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kooper-io/kooper/api/licensekey"
	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/licenseissue"
	"github.com/kooper-io/kooper/internal/tombstone"
)

// These tests run the revocation list on a fake client: a product with a
// thousand revoked licences is made in a moment, and no API server is
// needed. boundProduct is the License product they poll.
const boundProduct = "crm"

// boundReceiver is a receiver whose reads are answered from objs, a License
// product named boundProduct (its keys Secret holding a fresh signing key)
// and one named boundProduct+"-keyless" (its keys Secret holding none); it
// returns the keys that verify boundProduct's lists.
func boundReceiver(t *testing.T, opts Options, objs ...client.Object) (*Receiver, licensekey.KeySet) {
	t.Helper()
	g := NewWithT(t)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	pemKey, err := licensekey.MarshalPrivateKeyPEM(priv)
	g.Expect(err).NotTo(HaveOccurred())
	scheme := runtime.NewScheme()
	g.Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	g.Expect(saasv1alpha1.AddToScheme(scheme)).To(Succeed())
	product := func(name string, key []byte) []client.Object {
		return []client.Object{
			&saasv1alpha1.SaaSProduct{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: saasv1alpha1.SaaSProductSpec{
				ProductID: "OFFI846204237451911168", Type: saasv1alpha1.ProductTypeLicense, KeysSecretName: name + "-keys"}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: opts.Namespace, Name: name + "-keys"},
				Data: map[string][]byte{saasv1alpha1.LicenseSigningKeySecretKey: key}},
		}
	}
	objs = append(objs, product(boundProduct, pemKey)...)
	objs = append(objs, product(boundProduct+"-keyless", nil)...)
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
	r, err := NewReceiver(c, c, opts)
	g.Expect(err).NotTo(HaveOccurred())
	pub, _ := priv.Public().(ed25519.PublicKey)
	return r, licensekey.NewKeySet(pub)
}

// boundOptions are the receiver's defaults on a clock that stands still at
// now, in kooper's test namespace.
func boundOptions(now *time.Time) Options {
	opts := DefaultOptions()
	opts.Namespace, opts.Now = operatorNamespace, func() time.Time { return *now }
	return opts
}

// revokedID is the n-th instance id of a test, shaped as kooper issues
// them (so that it has a tombstone shard).
func revokedID(n int) string { return fmt.Sprintf("i-%020x", n) }

// revokedLicences are n released licences of boundProduct: the first
// expired of them with a current key that expired a year before now, the
// others with one valid for a year yet; every third is gone (only its
// tombstone is left), the others are still there, Released.
func revokedLicences(n, expired int, now time.Time) []client.Object {
	var objs []client.Object
	shard := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: tombstone.ShardPrefix + "00",
		Labels: map[string]string{"app.kubernetes.io/component": tombstone.ComponentValue}}, Data: map[string]string{}}
	for i := range n {
		id := revokedID(i)
		if i%3 == 0 {
			shard.Data[id] = string(tombstone.KindLicense) + "/" + boundProduct
			continue
		}
		end := metav1.NewTime(now.AddDate(1, 0, 0))
		if i < expired {
			end = metav1.NewTime(now.AddDate(-1, 0, 0))
		}
		objs = append(objs, &saasv1alpha1.License{ObjectMeta: metav1.ObjectMeta{Name: id},
			Spec:   saasv1alpha1.LicenseSpec{InstanceID: id, ProductName: boundProduct, OrderID: "CS" + id, State: saasv1alpha1.StateReleased},
			Status: saasv1alpha1.LicenseStatus{NotAfter: &end}})
	}
	return append(objs, shard)
}

// poll sends method path to r's handler, logging to log (when not nil),
// and returns the answer and its body.
func poll(t *testing.T, r *Receiver, method, path string, log *lineLog) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Method = method
	if log != nil {
		req = req.WithContext(logf.IntoContext(req.Context(), log.logger()))
	}
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, req)
	resp := rec.Result()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// lineLog collects the lines a funcr logger writes.
type lineLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineLog) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.lines = append(l.lines, prefix+" "+args)
	}, funcr.Options{})
}

func (l *lineLog) written() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

// largestListThatFits is how many entries a list of boundProduct signed in
// format holds at most without passing licensekey.MaxTokenLength, the
// bound every verifier reads: found by signing lists of each size.
func largestListThatFits(t *testing.T, format licensekey.Format, now time.Time) int {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := licenseissue.New(priv)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	fits := func(n int) bool {
		revoked := make([]licensekey.Revocation, n)
		for i := range revoked {
			revoked[i] = licensekey.Revocation{InstanceID: revokedID(i), Reason: licensekey.ReasonReleased}
		}
		list := licensekey.RevocationList{ProductID: "OFFI846204237451911168", IssuedAt: now.Unix(), Revoked: revoked}
		token, err := signer.SignRevocationList(list, format)
		NewWithT(t).Expect(err).NotTo(HaveOccurred())
		return len(token) <= licensekey.MaxTokenLength
	}
	low, high := 0, 4096 // fits(low), !fits(high)
	for high-low > 1 {
		if mid := (low + high) / 2; fits(mid) {
			low = mid
		} else {
			high = mid
		}
	}
	return low
}

// TestARevocationListIsServedOnlyWhenEveryVerifierReadsIt: nothing bounded
// the list, while every verifier reads at most 64 KiB (api/licensekey,
// kubectl kooper, the documented checks): past ~920 revoked instances of a
// product (one ~71 bytes in a JWS) the receiver served, with 200, a list
// every verifier refused, for good. A list within the bound is served with
// every revoked instance in it; one past it is not served at all: 503, as
// for a list that cannot be built now, so software keeps the list it has.
// kooper knows no bound on the expiry of an instance's every key (see
// revokedInstances), so no entry may be dropped to make it fit: the
// licences whose current key expired are listed like the others.
func TestARevocationListIsServedOnlyWhenEveryVerifierReadsIt(t *testing.T) {
	for _, format := range []licensekey.Format{licensekey.FormatJWS, licensekey.FormatLegacy} {
		now := time.Unix(1_800_000_000, 0)
		fit := largestListThatFits(t, format, now)
		t.Logf("a %s list holds at most %d entries", format, fit)
		for _, tt := range []struct {
			name     string
			n        int
			servable bool
		}{
			{"at the bound, every current key expired", fit, true},
			{"one entry past it", fit + 1, false},
			{"1,200 revoked instances, 1,000 of whose current keys expired", 1200, false},
		} {
			t.Run(string(format)+"/"+tt.name, func(t *testing.T) {
				g := NewWithT(t)
				r, keys := boundReceiver(t, boundOptions(&now), revokedLicences(tt.n, min(tt.n, 1000), now)...)
				refusedBefore := testutil.ToFloat64(revocationListsTooLong)
				log := &lineLog{}
				resp, body := poll(t, r, http.MethodGet, "/koogallery/"+boundProduct+"/licenses/revoked?format="+string(format), log)
				if resp.StatusCode == http.StatusOK {
					list, err := licensekey.ParseRevocationList(strings.TrimSpace(body), keys)
					g.Expect(err).NotTo(HaveOccurred(), "a list served is one every verifier reads")
					g.Expect(list.Revoked).To(HaveLen(tt.n), "every revoked instance, those whose current key expired among them")
					for i := range tt.n {
						g.Expect(list.IsRevoked("OFFI846204237451911168", revokedID(i))).To(BeTrue(), revokedID(i))
					}
				}
				if tt.servable {
					g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
					return
				}
				g.Expect(resp.StatusCode).To(Equal(http.StatusServiceUnavailable), "no list a verifier refuses, and none that leaves a revoked instance out")
				g.Expect(resp.Header.Get("Retry-After")).To(Equal(revocationMaxAge), "asked again no sooner than a list served would be")
				g.Expect(testutil.ToFloat64(revocationListsTooLong)).To(Equal(refusedBefore+1), "counted once, for the one build")
				g.Expect(log.written()).To(ConsistOf(SatisfyAll(ContainSubstring(`"msg"="Revocation list refused"`), ContainSubstring(`"error"=`),
					ContainSubstring(fmt.Sprintf("%d revoked instances", tt.n)), ContainSubstring(`"product"="crm"`))), "logged at error, naming the product and the count")
			})
		}
	}
}

// TestARevocationListRefusalLogsNoRawURLText: the line of a refused poll
// held the product segment of the URL as sent, up to the request line's
// limit, and a wrong method whole (anyone's text: a phone number, 16 KiB),
// and no budget bounded those lines. A segment not shaped like a product
// name, and a method not HTTP's, are described, not shown.
func TestARevocationListRefusalLogsNoRawURLText(t *testing.T) {
	const phone = "13812345678"
	long := strings.Repeat("a", 20<<10)
	for _, tt := range []struct {
		name, method, segment, hidden string
	}{
		{"a 20 KiB segment", http.MethodGet, long, long[:300]},
		{"a phone number as the segment", http.MethodGet, phone, phone},
		{"a 16 KiB method", strings.Repeat("X", 16<<10), boundProduct, strings.Repeat("X", 300)},
		{"a phone number as the method", phone, boundProduct, phone},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			now := time.Unix(1_800_000_000, 0)
			r, _ := boundReceiver(t, boundOptions(&now))
			log := &lineLog{}
			resp, _ := poll(t, r, tt.method, "/koogallery/"+tt.segment+"/licenses/revoked", log)
			g.Expect(resp.StatusCode).To(BeNumerically(">=", 400))
			lines := log.written()
			g.Expect(lines).To(HaveLen(1))
			g.Expect(lines[0]).To(ContainSubstring("Revocation list refused"))
			g.Expect(lines[0]).NotTo(ContainSubstring(tt.hidden))
			g.Expect(len(lines[0])).To(BeNumerically("<", 1024))
		})
	}
}

// TestRevocationListRefusalsWriteAtMostTheLineBudget: the refusals'
// lines are charged to the receiver's budget of lines for requests nobody
// authenticated, as the callbacks' audit lines are: beyond it they are
// counted, and the next line written says how many were not. A failure (a
// product without a signing key) has the failures' budget, so a flood of
// refusals cannot hide it.
func TestRevocationListRefusalsWriteAtMostTheLineBudget(t *testing.T) {
	g := NewWithT(t)
	const budget, requests = 5, 40
	now := time.Unix(1_800_000_000, 0)
	opts := boundOptions(&now)
	opts.UnauthenticatedAuditLinesPerSecond = budget
	r, _ := boundReceiver(t, opts)
	log := &lineLog{}
	made := "/koogallery/" + strings.Repeat("made-up-", 100) + "/licenses/revoked"
	for range requests {
		resp, _ := poll(t, r, http.MethodGet, made, log)
		g.Expect(resp.StatusCode).To(Equal(http.StatusNotFound))
	}
	g.Expect(log.written()).To(HaveLen(budget), "refusals' lines within the budget")

	resp, _ := poll(t, r, http.MethodGet, "/koogallery/"+boundProduct+"-keyless/licenses/revoked", log)
	g.Expect(resp.StatusCode).To(Equal(http.StatusServiceUnavailable))
	g.Expect(log.written()).To(HaveLen(budget+1), "a failure's line, the refusals' budget spent")

	now = now.Add(time.Second)
	resp, _ = poll(t, r, http.MethodDelete, "/koogallery/"+boundProduct+"/licenses/revoked", log)
	g.Expect(resp.StatusCode).To(Equal(http.StatusMethodNotAllowed))
	lines := log.written()
	g.Expect(lines).To(HaveLen(budget + 2))
	g.Expect(lines[len(lines)-1]).To(ContainSubstring(fmt.Sprintf(`"notLogged"=%d`, requests-budget)))
}
