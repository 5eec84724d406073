package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kooper-io/kooper/api/licensekey"
	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tombstone"
)

// TestARevocationListReadsOnlyItsProductsLicences: a list was built from
// every License of every product in the cache (each copied into the list
// read, then skipped unless it named the product) and from every tombstone
// shard read from the API server, so a poll cost work that grew with the
// whole fleet: with 20,000 licences over 100 products polled once a second,
// millions of License structs copied a second, and a full LIST of the
// tombstones for each product every 15 s. The list holds exactly its
// product's frozen, released and gone licences, while another product and
// a product nobody made have revoked and gone ones of their own; it reads
// only its product's licences, and the tombstones from the cache.
func TestARevocationListReadsOnlyItsProductsLicences(t *testing.T) {
	g := NewWithT(t)
	f, keys := newLicenceFixtureWithSigningKey(t)
	other, _ := newLicenceFixtureWithSigningKey(t)
	nobodys := "never-made-" + f.product.Name

	var want []licensekey.Revocation
	for _, product := range []string{f.product.Name, other.product.Name, nobodys} {
		for _, state := range []saasv1alpha1.SubscriptionState{saasv1alpha1.StateActive, saasv1alpha1.StateFrozen, saasv1alpha1.StateReleased} {
			id := randomInstanceID(t)
			createCachedLicence(t, product, id, state)
			if product != f.product.Name {
				continue
			}
			switch state {
			case saasv1alpha1.StateFrozen:
				want = append(want, licensekey.Revocation{InstanceID: id, Reason: licensekey.ReasonFrozen})
			case saasv1alpha1.StateReleased:
				want = append(want, licensekey.Revocation{InstanceID: id, Reason: licensekey.ReasonReleased})
			}
		}
		gone := randomInstanceID(t)
		recordCachedTombstone(t, product, gone)
		if product == f.product.Name {
			want = append(want, licensekey.Revocation{InstanceID: gone, Reason: licensekey.ReasonReleased})
		}
	}

	listed := &licencesListed{Client: receiver.client, product: f.product.Name}
	apiReads := &tombstoneListsCounted{Reader: receiver.reader}
	r, err := NewReceiver(listed, apiReads, receiver.opts)
	g.Expect(err).NotTo(HaveOccurred())
	resp, body := poll(t, r, http.MethodGet, CallbackPathPrefix+f.product.Name+"/licenses/revoked", nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK), body)
	list, err := licensekey.ParseRevocationList(strings.TrimSpace(body), keys)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(list.Revoked).To(ConsistOf(want), "exactly the product's frozen, released and gone licences")

	g.Expect(listed.ofOtherProducts.Load()).To(BeZero(), "licences of other products read for the list (of %d read)", listed.read.Load())
	g.Expect(listed.read.Load()).To(BeEquivalentTo(3), "the product's own licences read")
	g.Expect(apiReads.lists.Load()).To(BeZero(), "LISTs of the tombstone shards sent to the API server")
}

// TestARevocationListWithoutTheLicenceIndexReadsEveryLicence: a receiver
// whose client has no licenceProductIndex (a fake client here; a direct
// one, whose API server refuses the field selector) serves the list all
// the same, from every licence, keeping its product's.
func TestARevocationListWithoutTheLicenceIndexReadsEveryLicence(t *testing.T) {
	g := NewWithT(t)
	now := time.Unix(1_700_000_000, 0)
	licence := func(product, id string, state saasv1alpha1.SubscriptionState) client.Object {
		return &saasv1alpha1.License{ObjectMeta: metav1.ObjectMeta{Name: id},
			Spec: saasv1alpha1.LicenseSpec{InstanceID: id, ProductName: product, OrderID: "CS" + id, State: state}}
	}
	r, keys := boundReceiver(t, boundOptions(&now),
		licence(boundProduct, revokedID(1), saasv1alpha1.StateFrozen),
		licence(boundProduct, revokedID(2), saasv1alpha1.StateActive),
		licence("another", revokedID(3), saasv1alpha1.StateReleased),
		licence("another", revokedID(4), saasv1alpha1.StateFrozen))
	resp, body := poll(t, r, http.MethodGet, CallbackPathPrefix+boundProduct+"/licenses/revoked", nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK), body)
	list, err := licensekey.ParseRevocationList(strings.TrimSpace(body), keys)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(list.Revoked).To(ConsistOf(licensekey.Revocation{InstanceID: revokedID(1), Reason: licensekey.ReasonFrozen}))
}

// TestTheLicenceIndexIsRegisteredOncePerManager: Setup indexes Licenses by
// product unless the manager has that index already, as it has when the
// controllers run from the same manager (they index Licenses by the same
// field, registered first: main.go) or when Setup ran on it before (the
// kubectl kooper suite serves two receivers from one manager). A second
// index of one name is refused by the informer ("indexer conflict").
func TestTheLicenceIndexIsRegisteredOncePerManager(t *testing.T) {
	g := NewWithT(t)
	mgr, err := newManager(testEnv)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(indexLicencesByProduct(ctxFor(t), mgr)).To(Succeed())
	g.Expect(indexLicencesByProduct(ctxFor(t), mgr)).To(Succeed(), "a second Setup on the same manager")

	asTheControllersDo, err := newManager(testEnv)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(asTheControllersDo.GetFieldIndexer().IndexField(ctxFor(t), &saasv1alpha1.License{}, licenceProductIndex,
		func(obj client.Object) []string { return []string{obj.(*saasv1alpha1.License).Spec.ProductName} })).To(Succeed())
	g.Expect(indexLicencesByProduct(ctxFor(t), asTheControllersDo)).To(Succeed(), "the controllers indexed Licenses first")
}

// BenchmarkRevocationListBuildAmongOtherProducts is the build of one
// revocation list, the memos off (every poll builds it and reads the
// tombstones), for a product of 100 licences while the cache holds 1,000,
// then 10,000 licences of 100 other products. A build's cost is to follow
// its own product's licences, not the fleet's.
func BenchmarkRevocationListBuildAmongOtherProducts(b *testing.B) {
	product := licenceProductWithLicences(b, 100)
	made := 0
	for _, others := range []int{1000, 10_000} {
		made = otherProductsLicences(b, made, others)
		b.Run(fmt.Sprintf("other-licences=%d", others), func(b *testing.B) {
			r := receiverWithListTTL(b, 0)
			r.goneLicences.ttl = 0
			handler := r.Handler()
			target := CallbackPathPrefix + product + "/licenses/revoked"
			b.ReportAllocs()
			for b.Loop() {
				w := &discardingWriter{header: http.Header{}}
				handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
				if w.status != http.StatusOK {
					b.Fatalf("answered %d", w.status)
				}
			}
		})
	}
}

// otherProductsLabel marks the benchmark's licences of other products, so
// that it can wait for the cache to hold them all.
const otherProductsLabel = "kooper.test/other-products"

// otherProductsLicences makes licences of 100 other products (named
// other-000 to other-099, none of them made), a third each active, frozen
// and released, numbered from made up to total, and waits for the
// receiver's cache to hold all total of them; it returns total.
func otherProductsLicences(b *testing.B, made, total int) int {
	createCachedLicences(b, made, total, func(i int) string { return fmt.Sprintf("other-%03d", i%100) },
		map[string]string{otherProductsLabel: "true"})
	return total
}

// randomInstanceID is an instance id shaped as kooper issues them (so that
// it has a tombstone shard), unique to the test.
func randomInstanceID(t *testing.T) string {
	t.Helper()
	raw := make([]byte, 10)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	return "i-" + hex.EncodeToString(raw)
}

// createCachedLicence makes product's licence of instance id in state and
// waits for the receiver's cache to hold it.
func createCachedLicence(t *testing.T, product, id string, state saasv1alpha1.SubscriptionState) {
	t.Helper()
	g := NewWithT(t)
	l := &saasv1alpha1.License{ObjectMeta: metav1.ObjectMeta{Name: id},
		Spec: saasv1alpha1.LicenseSpec{InstanceID: id, ProductName: product, OrderID: "CS" + id, State: state, Mode: saasv1alpha1.ModeProduction}}
	g.Expect(k8sClient.Create(ctxFor(t), l)).To(Succeed())
	g.Eventually(func() error {
		return receiver.client.Get(ctxFor(t), client.ObjectKeyFromObject(l), &saasv1alpha1.License{})
	}).Should(Succeed())
}

// recordCachedTombstone records the tombstone of product's licence of
// instance id, as the licence controller does when its record goes, and
// waits for the receiver's cache to hold it.
func recordCachedTombstone(t *testing.T, product, id string) {
	t.Helper()
	g := NewWithT(t)
	g.Expect(tombstone.Record(ctxFor(t), k8sClient, k8sClient, operatorNamespace, id,
		tombstone.Entry{Product: product, Kind: tombstone.KindLicense})).To(Succeed())
	g.Eventually(func() (bool, error) {
		_, ok, err := tombstone.Lookup(ctxFor(t), receiver.client, operatorNamespace, id)
		return ok, err
	}).Should(BeTrue())
}

// licencesListed is a client that counts the Licenses its Lists return:
// all of them (read) and those that name another product than product.
type licencesListed struct {
	client.Client
	product               string
	read, ofOtherProducts atomic.Int64
}

func (c *licencesListed) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	err := c.Client.List(ctx, list, opts...)
	if licences, ok := list.(*saasv1alpha1.LicenseList); ok && err == nil {
		for i := range licences.Items {
			c.read.Add(1)
			if licences.Items[i].Spec.ProductName != c.product {
				c.ofOtherProducts.Add(1)
			}
		}
	}
	return err
}

// tombstoneListsCounted is a reader that counts its Lists of ConfigMaps.
type tombstoneListsCounted struct {
	client.Reader
	lists atomic.Int64
}

func (c *tombstoneListsCounted) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if _, ok := list.(*corev1.ConfigMapList); ok {
		c.lists.Add(1)
	}
	return c.Reader.List(ctx, list, opts...)
}
