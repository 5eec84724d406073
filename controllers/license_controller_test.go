package controllers

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/kooper-io/kooper/api/licensekey"
	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/licenseissue"
	"github.com/kooper-io/kooper/internal/testenv"
)

// orderExpiry is the expiry of every order the fake marketplace resolves.
var orderExpiry = time.Date(2099, 12, 31, 23, 59, 59, 0, time.UTC)

// newLicenseProduct creates a License product with two plans (basic:
// export; pro: export and sso) and a keys Secret holding a fresh signing key.
func newLicenseProduct(t *testing.T, withKey bool) (*saasv1alpha1.SaaSProduct, *licensekey.Signer) {
	t.Helper()
	return newLicenseProductWith(t, withKey, nil)
}

// newLicenseProductWith is newLicenseProduct, the product changed by change
// before it is created.
func newLicenseProductWith(t *testing.T, withKey bool, change func(*saasv1alpha1.SaaSProduct)) (*saasv1alpha1.SaaSProduct, *licensekey.Signer) {
	t.Helper()
	return newLicenseProductIn(t, k8sClient, withKey, change)
}

// newLicenseProductIn is newLicenseProductWith through client c (another
// control plane's).
func newLicenseProductIn(t *testing.T, c client.Client, withKey bool, change func(*saasv1alpha1.SaaSProduct)) (*saasv1alpha1.SaaSProduct, *licensekey.Signer) {
	t.Helper()
	g := NewWithT(t)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	signer, err := licensekey.NewSigner(priv)
	g.Expect(err).NotTo(HaveOccurred())
	pemKey, err := licensekey.MarshalPrivateKeyPEM(priv)
	g.Expect(err).NotTo(HaveOccurred())
	name := fmt.Sprintf("lp-%d", tenantSeq.Add(1))
	keys := map[string]string{saasv1alpha1.LicenseSigningKeySecretKey: string(pemKey)}
	if !withKey {
		keys = map[string]string{}
	}
	for k, v := range completeKeys {
		keys[k] = v
	}
	product := &saasv1alpha1.SaaSProduct{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: saasv1alpha1.SaaSProductSpec{
			ProductID: "OFFL" + strconv.FormatInt(tenantSeq.Add(1), 10), Type: saasv1alpha1.ProductTypeLicense,
			KeysSecretName: name + "-keys",
			URLs:           &saasv1alpha1.URLTemplates{FrontEndURL: "https://licences.example.com/{{.InstanceID}}"},
			Plans: []saasv1alpha1.Plan{
				{SKUCode: "basic", License: &saasv1alpha1.LicenseTerms{Features: []string{"export"}, ValidityDays: 365}},
				{SKUCode: "pro", License: &saasv1alpha1.LicenseTerms{Features: []string{"sso", "export"}, ValidityDays: 365}},
			},
		},
	}
	if change != nil {
		change(product)
	}
	g.Expect(c.Create(testContext(t), keysSecret(operatorNamespace, product.Spec.KeysSecretName, keys))).To(Succeed())
	g.Expect(c.Create(testContext(t), product)).To(Succeed())
	return product, signer
}

// newLicense records a purchase of sku as the receiver would.
func newLicense(t *testing.T, product *saasv1alpha1.SaaSProduct, sku string) *saasv1alpha1.License {
	t.Helper()
	return newLicenseIn(t, k8sClient, product, sku, nil)
}

// newLicenseIn is newLicense through client c, the licence changed by
// change (if not nil) before it is created.
func newLicenseIn(t *testing.T, c client.Client, product *saasv1alpha1.SaaSProduct, sku string, change func(*saasv1alpha1.License)) *saasv1alpha1.License {
	t.Helper()
	n := tenantSeq.Add(1)
	orderID := fmt.Sprintf("CS%dLIC", n)
	marketplace.addOrder(orderID, product.Spec.ProductID, sku, orderExpiry.Format("20060102150405"))
	id := fmt.Sprintf("i-%d", n)
	l := &saasv1alpha1.License{
		ObjectMeta: metav1.ObjectMeta{Name: id, Labels: map[string]string{saasv1alpha1.ProductLabel: product.Name}},
		Spec: saasv1alpha1.LicenseSpec{
			InstanceID: id, ProductName: product.Name, OrderID: orderID, OrderLineID: orderID + "-000001",
			Orders: []saasv1alpha1.AppliedOrder{{OrderID: orderID, OrderLineID: orderID + "-000001",
				Activity: saasv1alpha1.ActivityNewInstance, ReceivedTime: metav1.Now()}},
		},
	}
	if change != nil {
		change(l)
	}
	NewWithT(t).Expect(c.Create(testContext(t), l)).To(Succeed())
	return l
}

// eventuallyLicense waits until check passes on the licence as stored.
func eventuallyLicense(t *testing.T, name string, check func(g Gomega, l *saasv1alpha1.License)) *saasv1alpha1.License {
	t.Helper()
	l := &saasv1alpha1.License{}
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Name: name}, l)).To(Succeed())
		check(g, l)
	}).Should(Succeed())
	return l
}

func licenseHas(condType string, status metav1.ConditionStatus, reason string) func(Gomega, *saasv1alpha1.License) {
	return func(g Gomega, l *saasv1alpha1.License) {
		c := apimeta.FindStatusCondition(l.Status.Conditions, condType)
		g.Expect(c).NotTo(BeNil(), "condition %s", condType)
		g.Expect(c.Status).To(Equal(status), "condition %s: %s", condType, c.Message)
		g.Expect(c.Reason).To(Equal(reason), "condition %s: %s", condType, c.Message)
	}
}

func licenseReady(g Gomega, l *saasv1alpha1.License) {
	licenseHas(saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)(g, l)
}

// storedKey reads the licence key the status points at.
func storedKey(t *testing.T, l *saasv1alpha1.License) string {
	t.Helper()
	g := NewWithT(t)
	g.Expect(l.Status.LicenseKeyRef).NotTo(BeNil())
	secret := &corev1.Secret{}
	ref := l.Status.LicenseKeyRef
	g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, secret)).To(Succeed())
	return string(secret.Data[ref.Key])
}

// controllerCount is controller-runtime's counter metric of controller
// (for example controller_runtime_reconcile_total, which counts passes
// once they end), summed over its other labels, as the manager's registry
// holds it now.
func controllerCount(t *testing.T, metric, controller string) float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, f := range families {
		if f.GetName() != metric {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == controller {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	return total
}

// pokeAndAwaitPass pokes obj and waits until controller has ended a pass
// since (its controller_runtime_reconcile_total passes the count it had
// before the poke). A poke changes no generation and its pass may change
// nothing, so without this wait a "nothing more happens" check could end
// before the poked pass had even begun, and pass whatever that pass did.
// The count is every object's of that controller: no test of this package
// runs in parallel, so another object's pass meanwhile is rare, and at
// worst the check that follows watches as long as it did without the wait.
func pokeAndAwaitPass(t *testing.T, obj client.Object, controller string) {
	t.Helper()
	before := controllerCount(t, "controller_runtime_reconcile_total", controller)
	poke(t, obj)
	NewWithT(t).Eventually(func() float64 {
		return controllerCount(t, "controller_runtime_reconcile_total", controller)
	}).WithTimeout(30*time.Second).Should(BeNumerically(">", before), "the %s controller's pass after the poke", controller)
}

// updateLicense changes a licence's spec as the receiver would.
func updateLicense(t *testing.T, name string, change func(*saasv1alpha1.License)) {
	t.Helper()
	NewWithT(t).Eventually(func() error {
		l := &saasv1alpha1.License{}
		if err := k8sClient.Get(testContext(t), client.ObjectKey{Name: name}, l); err != nil {
			return err
		}
		change(l)
		return k8sClient.Update(testContext(t), l)
	}).Should(Succeed())
}

func TestLicenseIssuesAKeyTheMerchantCanVerify(t *testing.T) {
	g := NewWithT(t)
	product, signer := newLicenseProduct(t, true)
	l := eventuallyLicense(t, newLicense(t, product, "basic").Name, licenseReady)

	licenseHas(saasv1alpha1.IssuedCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)(g, l)
	licenseHas(saasv1alpha1.OrderResolvedCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)(g, l)
	g.Expect(l.Status.SKUCode).To(Equal("basic"))
	g.Expect(l.Status.Features).To(Equal([]string{"export"}))
	g.Expect(l.Status.KeyID).To(Equal(signer.KeyID()))
	g.Expect(l.Status.NotAfter.Time).To(BeTemporally("==", orderExpiry))
	g.Expect(l.Status.ObservedGeneration).To(Equal(l.Generation))

	claims, err := licensekey.Verify(storedKey(t, l), licensekey.VerifyOptions{ProductID: product.Spec.ProductID, Keys: licensekey.NewKeySet(signer.PublicKey()), Now: time.Now()})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(claims.InstanceID).To(Equal(l.Name))
	g.Expect(claims.ProductID).To(Equal(product.Spec.ProductID))
	g.Expect(claims.NotBefore).To(Equal(l.CreationTimestamp.Unix()))
	g.Expect(claims.Format).To(Equal(licensekey.FormatJWS), "the default format")

	secret := &corev1.Secret{}
	g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Namespace: operatorNamespace, Name: LicenseSecretName(l.Name)}, secret)).To(Succeed())
	g.Expect(secret.Labels).To(HaveKeyWithValue(saasv1alpha1.ManagedByLabel, saasv1alpha1.ManagedByValue))
	g.Expect(secret.OwnerReferences).To(BeEmpty(), "no owner reference: a deleted License CRD must not take every key with it")

	// A reconcile that finds the key right writes nothing. The poke
	// changes no generation, so nothing shows when its reconcile is done:
	// the check starts once the controller has ended a pass since the
	// poke, and the Secret is watched a while after, not read once.
	version := secret.ResourceVersion
	pokeAndAwaitPass(t, l, "license")
	g.Consistently(func(g Gomega) {
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(secret), secret)).To(Succeed())
		g.Expect(secret.ResourceVersion).To(Equal(version))
	}).WithTimeout(2 * time.Second).Should(Succeed())
}

// Issue 35: a product set to Legacy issues kl1 keys; switching a product's
// format re-issues nothing by itself, and the licence's next key (here a
// renewal's) is in the new format, while the old key stays valid.
func TestLicenseKeyFormatChoosesTheFormatOfNewKeys(t *testing.T) {
	g := NewWithT(t)
	product, signer := newLicenseProductWith(t, true, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.License = &saasv1alpha1.LicensePolicy{KeyFormat: saasv1alpha1.LicenseKeyFormatLegacy}
	})
	keys := licensekey.NewKeySet(signer.PublicKey())
	l := eventuallyLicense(t, newLicense(t, product, "basic").Name, licenseReady)
	legacyKey := storedKey(t, l)
	g.Expect(legacyKey).To(HavePrefix(licensekey.LicensePrefix + "."))
	claims, err := licensekey.Verify(legacyKey, licensekey.VerifyOptions{ProductID: product.Spec.ProductID, Keys: keys, Now: time.Now()})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(claims.Format).To(Equal(licensekey.FormatLegacy))

	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.License.KeyFormat = saasv1alpha1.LicenseKeyFormatJWS
	})
	g.Eventually(func(g Gomega) {
		cached := &saasv1alpha1.SaaSProduct{}
		g.Expect(cachedClient.Get(testContext(t), client.ObjectKeyFromObject(product), cached)).To(Succeed())
		g.Expect(cached.Spec.GetLicenseKeyFormat("")).To(Equal(saasv1alpha1.LicenseKeyFormatJWS))
	}).Should(Succeed(), "the controllers see the change before the renewal")
	renewed := metav1.NewTime(time.Date(2100, 12, 31, 23, 59, 59, 0, time.UTC))
	updateLicense(t, l.Name, func(l *saasv1alpha1.License) {
		l.Spec.Orders = append(l.Spec.Orders, saasv1alpha1.AppliedOrder{OrderID: "RENEW35", Activity: saasv1alpha1.ActivityRefreshInstance,
			Scene: saasv1alpha1.SceneRenewal, ExpireTime: &renewed, ReceivedTime: metav1.Now()})
		l.Spec.NotAfter = &renewed
	})
	l = eventuallyLicense(t, l.Name, func(g Gomega, l *saasv1alpha1.License) {
		g.Expect(l.Status.NotAfter.Time).To(BeTemporally("==", renewed.Time))
		licenseReady(g, l)
	})
	claims, err = licensekey.Verify(storedKey(t, l), licensekey.VerifyOptions{ProductID: product.Spec.ProductID, Keys: keys, Now: time.Now()})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(claims.Format).To(Equal(licensekey.FormatJWS))
	g.Expect(claims.NotAfter).To(Equal(renewed.Unix()))
	_, err = licensekey.Verify(legacyKey, licensekey.VerifyOptions{ProductID: product.Spec.ProductID, Keys: keys, Now: time.Now()})
	g.Expect(err).NotTo(HaveOccurred(), "the legacy key stays valid until it expires")
}

// A key that says what it must is kept in whichever format it is: a change
// of license.keyFormat alone re-issues nothing.
func TestSameClaimsIgnoresTheFormat(t *testing.T) {
	g := NewWithT(t)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	issuer, err := licenseissue.New(priv)
	g.Expect(err).NotTo(HaveOccurred())
	want := licensekey.Claims{KeyID: issuer.KeyID(), LicenseID: "i-1", InstanceID: "i-1", ProductID: "OFFL1", SKU: "basic",
		Features: []string{"export"}, NotBefore: 1795860000, NotAfter: 1827396000}
	for _, f := range []licensekey.Format{licensekey.FormatJWS, licensekey.FormatLegacy} {
		issued := want
		issued.IssuedAt = 1795860000
		token, err := issuer.Sign(issued, f)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(sameClaims(token, want)).To(BeTrue(), "%s", f)
		other := want
		other.SKU = "pro"
		g.Expect(sameClaims(token, other)).To(BeFalse(), "%s", f)
	}
	r := &LicenseReconciler{}
	g.Expect(r.keyFormat(&saasv1alpha1.SaaSProduct{})).To(Equal(licensekey.FormatJWS))
	legacy := &saasv1alpha1.SaaSProduct{Spec: saasv1alpha1.SaaSProductSpec{
		License: &saasv1alpha1.LicensePolicy{KeyFormat: saasv1alpha1.LicenseKeyFormatLegacy}}}
	g.Expect(r.keyFormat(legacy)).To(Equal(licensekey.FormatLegacy))
	// An operator run with --licence-key-format=Legacy (an upgrade that
	// keeps software in the field working) issues Legacy keys for a product
	// that names no format, and the product's own choice still wins.
	r.Options.DefaultKeyFormat = saasv1alpha1.LicenseKeyFormatLegacy
	g.Expect(r.keyFormat(&saasv1alpha1.SaaSProduct{})).To(Equal(licensekey.FormatLegacy))
	jws := &saasv1alpha1.SaaSProduct{Spec: saasv1alpha1.SaaSProductSpec{
		License: &saasv1alpha1.LicensePolicy{KeyFormat: saasv1alpha1.LicenseKeyFormatJWS}}}
	g.Expect(r.keyFormat(jws)).To(Equal(licensekey.FormatJWS))
}

func TestLicenseRenewalReissuesWithTheNewWindow(t *testing.T) {
	g := NewWithT(t)
	product, signer := newLicenseProduct(t, true)
	l := eventuallyLicense(t, newLicense(t, product, "basic").Name, licenseReady)
	oldKey := storedKey(t, l)

	renewed := metav1.NewTime(time.Date(2100, 12, 31, 23, 59, 59, 0, time.UTC))
	updateLicense(t, l.Name, func(l *saasv1alpha1.License) {
		l.Spec.Orders = append(l.Spec.Orders, saasv1alpha1.AppliedOrder{OrderID: "RENEW1", Activity: saasv1alpha1.ActivityRefreshInstance,
			Scene: saasv1alpha1.SceneRenewal, ExpireTime: &renewed, ReceivedTime: metav1.Now()})
		l.Spec.NotAfter = &renewed
	})
	l = eventuallyLicense(t, l.Name, func(g Gomega, l *saasv1alpha1.License) {
		g.Expect(l.Status.NotAfter.Time).To(BeTemporally("==", renewed.Time))
		licenseReady(g, l)
	})
	newKey := storedKey(t, l)
	g.Expect(newKey).NotTo(Equal(oldKey))

	keys := licensekey.NewKeySet(signer.PublicKey())
	afterOldExpiry := time.Date(2100, 6, 1, 0, 0, 0, 0, time.UTC)
	_, err := licensekey.Verify(oldKey, licensekey.VerifyOptions{ProductID: product.Spec.ProductID, Keys: keys, Now: afterOldExpiry})
	g.Expect(errors.Is(err, licensekey.ErrExpired)).To(BeTrue(), "%v", err)
	claims, err := licensekey.Verify(newKey, licensekey.VerifyOptions{ProductID: product.Spec.ProductID, Keys: keys, Now: afterOldExpiry})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(claims.NotAfter).To(Equal(renewed.Unix()))
}

func TestLicenseUpgradeReissuesWithTheNewPlansFeatures(t *testing.T) {
	g := NewWithT(t)
	product, signer := newLicenseProduct(t, true)
	l := eventuallyLicense(t, newLicense(t, product, "basic").Name, licenseReady)

	upgradeLicenseToPro(t, product, l.Name)
	l = eventuallyLicense(t, l.Name, func(g Gomega, l *saasv1alpha1.License) {
		g.Expect(l.Status.SKUCode).To(Equal("pro"))
		licenseReady(g, l)
	})
	g.Expect(l.Status.Features).To(Equal([]string{"export", "sso"}))
	claims, err := licensekey.Verify(storedKey(t, l), licensekey.VerifyOptions{ProductID: product.Spec.ProductID, Keys: licensekey.NewKeySet(signer.PublicKey()), Now: time.Now()})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(claims.SKU).To(Equal("pro"))
	g.Expect(claims.HasFeature("sso")).To(BeTrue())
}

func TestLicenseFreezeRevokesUntilUnfrozenAndReleaseForGood(t *testing.T) {
	product, _ := newLicenseProduct(t, true)
	l := eventuallyLicense(t, newLicense(t, product, "basic").Name, licenseReady)

	updateLicense(t, l.Name, func(l *saasv1alpha1.License) { l.Spec.State = saasv1alpha1.StateFrozen })
	eventuallyLicense(t, l.Name, func(g Gomega, l *saasv1alpha1.License) {
		licenseHas(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.RevokedReason)(g, l)
		licenseHas(saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.RevokedReason)(g, l)
	})

	updateLicense(t, l.Name, func(l *saasv1alpha1.License) { l.Spec.State = saasv1alpha1.StateActive })
	eventuallyLicense(t, l.Name, func(g Gomega, l *saasv1alpha1.License) {
		licenseReady(g, l)
		g.Expect(apimeta.FindStatusCondition(l.Status.Conditions, saasv1alpha1.FrozenCondition)).To(BeNil())
	})

	updateLicense(t, l.Name, func(l *saasv1alpha1.License) { l.Spec.State = saasv1alpha1.StateReleased })
	eventuallyLicense(t, l.Name, func(g Gomega, l *saasv1alpha1.License) {
		licenseHas(saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.RevokedReason)(g, l)
		licenseHas(saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.RevokedReason)(g, l)
	})
}

// newApplication stores a getLicenseAsync application of instance for
// event, as the receiver records one: valid from an hour ago for a month.
func newApplication(t *testing.T, product *saasv1alpha1.SaaSProduct, instance, event string) *saasv1alpha1.License {
	t.Helper()
	from, until := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second)), metav1.NewTime(time.Now().AddDate(0, 1, 0).Truncate(time.Second))
	application := &saasv1alpha1.License{
		ObjectMeta: metav1.ObjectMeta{Name: "l-" + strings.ToLower(event), Labels: map[string]string{saasv1alpha1.ProductLabel: product.Name}},
		Spec: saasv1alpha1.LicenseSpec{InstanceID: instance, ProductName: product.Name, EventID: event,
			DeviceFingerprint: "fp-1", NotBefore: &from, NotAfter: &until},
	}
	NewWithT(t).Expect(k8sClient.Create(testContext(t), application)).To(Succeed())
	return application
}

func TestLicenseApplicationIsUploadedWithRetriesAndOnlyOnce(t *testing.T) {
	g := NewWithT(t)
	product, signer := newLicenseProduct(t, true)
	instance := eventuallyLicense(t, newLicense(t, product, "pro").Name, licenseReady)

	event := fmt.Sprintf("EVT%d", tenantSeq.Add(1))
	marketplace.failNextUploads(event, 2)
	application := newApplication(t, product, instance.Name, event)
	until := application.Spec.NotAfter
	// Each failed upload waits its backoff on the controllers' clock.
	for attempt := int32(1); attempt <= 2; attempt++ {
		eventuallyLicense(t, application.Name, func(g Gomega, l *saasv1alpha1.License) {
			g.Expect(l.Status.Upload).NotTo(BeNil())
			g.Expect(l.Status.Upload.Attempts).To(BeNumerically(">=", attempt))
		})
		fakeClock.Step(time.Minute)
	}

	application = eventuallyLicense(t, application.Name, func(g Gomega, l *saasv1alpha1.License) {
		licenseHas(saasv1alpha1.DeliveredCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)(g, l)
		licenseReady(g, l)
	})
	g.Expect(application.Status.Upload.Attempts).To(BeEquivalentTo(3))
	g.Expect(application.Status.Upload.UploadedTime).NotTo(BeNil())
	g.Expect(application.Status.Upload.LastError).To(BeEmpty())
	accepted, attempts := marketplace.uploaded(event)
	g.Expect(attempts).To(Equal(3))
	g.Expect(accepted).To(Equal([]string{storedKey(t, application)}))

	keys := licensekey.NewKeySet(signer.PublicKey())
	claims, err := licensekey.Verify(accepted[0], licensekey.VerifyOptions{ProductID: product.Spec.ProductID, Keys: keys, Now: time.Now(), Fingerprint: "fp-1"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(claims.SKU).To(Equal("pro"))
	g.Expect(claims.NotAfter).To(Equal(until.Unix()))
	_, err = licensekey.Verify(accepted[0], licensekey.VerifyOptions{ProductID: product.Spec.ProductID, Keys: keys, Now: time.Now(), Fingerprint: "fp-2"})
	g.Expect(errors.Is(err, licensekey.ErrWrongDevice)).To(BeTrue())

	// Another reconcile uploads nothing more (watched for a while once
	// the poked pass has run, as above: it shows nothing when done).
	pokeAndAwaitPass(t, application, "license")
	g.Consistently(func() int {
		_, attempts := marketplace.uploaded(event)
		return attempts
	}).WithTimeout(2 * time.Second).Should(Equal(3))

	// Freezing the instance revokes its applications too.
	updateLicense(t, instance.Name, func(l *saasv1alpha1.License) { l.Spec.State = saasv1alpha1.StateFrozen })
	eventuallyLicense(t, application.Name, licenseHas(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.RevokedReason))
}

func TestLicenseWithoutASigningKeyStallsThenRecovers(t *testing.T) {
	product, _ := newLicenseProduct(t, false)
	l := newLicense(t, product, "basic")
	eventuallyLicense(t, l.Name, licenseHas(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.KeysSecretIncompleteReason))

	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	pemKey, _ := licensekey.MarshalPrivateKeyPEM(priv)
	secret := &corev1.Secret{}
	g := NewWithT(t)
	g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Namespace: operatorNamespace, Name: product.Spec.KeysSecretName}, secret)).To(Succeed())
	patch := client.MergeFrom(secret.DeepCopy())
	secret.Data[saasv1alpha1.LicenseSigningKeySecretKey] = pemKey
	g.Expect(k8sClient.Patch(testContext(t), secret, patch)).To(Succeed())
	eventuallyLicense(t, l.Name, func(g Gomega, l *saasv1alpha1.License) {
		licenseReady(g, l)
		g.Expect(apimeta.FindStatusCondition(l.Status.Conditions, saasv1alpha1.StalledCondition)).To(BeNil())
	})
}

func TestLicenseProductNeedsItsSigningKeyToBeReady(t *testing.T) {
	product, _ := newLicenseProduct(t, false)
	cond := expectCondition(t, product, saasv1alpha1.KeysAvailableCondition, metav1.ConditionFalse, saasv1alpha1.KeysSecretIncompleteReason)
	NewWithT(t).Expect(cond.Message).To(HaveSuffix("lacks " + saasv1alpha1.LicenseSigningKeySecretKey))
	withKey, _ := newLicenseProduct(t, true)
	expectCondition(t, withKey, saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
}

// TestAKeySecretAnEarlierKooperOwnedIsFreedOfItsOwner: earlier versions made
// the License the key Secret's controller owner, so deleting the License
// CRD let the garbage collector delete every key. The reference is taken
// off on the next reconcile, the key kept as it was; deleting the licence
// by hand still deletes its key.
func TestAKeySecretAnEarlierKooperOwnedIsFreedOfItsOwner(t *testing.T) {
	g := NewWithT(t)
	product, _ := newLicenseProduct(t, true)
	l := newLicense(t, product, "basic")
	l = eventuallyLicense(t, l.Name, licenseReady)
	token := storedKey(t, l)
	key := client.ObjectKey{Namespace: operatorNamespace, Name: LicenseSecretName(l.Name)}
	secret := &corev1.Secret{}
	g.Expect(k8sClient.Get(testContext(t), key, secret)).To(Succeed())
	g.Expect(secret.OwnerReferences).To(BeEmpty())

	// As an earlier kooper stored it.
	g.Expect(controllerutil.SetControllerReference(l, secret, k8sClient.Scheme())).To(Succeed())
	g.Expect(k8sClient.Update(testContext(t), secret)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(testContext(t), key, secret)).To(Succeed())
		g.Expect(secret.OwnerReferences).To(BeEmpty())
	}).Should(Succeed())
	g.Expect(string(secret.Data[LicenseKeySecretKey])).To(Equal(token), "the key itself is kept")

	g.Expect(k8sClient.Delete(testContext(t), l)).To(Succeed())
	g.Eventually(func() bool { return apierrors.IsNotFound(k8sClient.Get(testContext(t), key, &corev1.Secret{})) }).
		Should(BeTrue(), "a licence deleted by hand takes its key with it")
}

// A licence whose key the cache has not seen yet (written a moment ago) is
// not issued again: the miss is confirmed with the API server, the key the
// buyer may have fetched stays, and Issued stays True.
func TestALicenceKeyTheCacheMissesIsNotIssuedAgain(t *testing.T) {
	g := NewWithT(t)
	product, _ := newLicenseProduct(t, true)
	l := eventuallyLicense(t, newLicense(t, product, "basic").Name, licenseReady)
	key := storedKey(t, l)
	secretKey := client.ObjectKey{Namespace: operatorNamespace, Name: LicenseSecretName(l.Name)}

	// A reconciler like the manager's, whose cache has not seen the key.
	missing := cacheMissing{Client: cachedClient, key: secretKey}
	r := &LicenseReconciler{Client: missing, Reader: k8sClient, Scheme: k8sClient.Scheme(),
		Recorder: events.NewFakeRecorder(10), Clock: fakeClock, Orders: MarketplaceOrderClients(marketplace.server.URL),
		Uploads: MarketplaceUploadClients(marketplace.server.URL), Options: LicenseOptions{SecretNamespace: operatorNamespace}}
	_, err := r.Reconcile(testContext(t), ctrl.Request{NamespacedName: client.ObjectKey{Name: l.Name}})
	g.Expect(err).NotTo(HaveOccurred())

	after := eventuallyLicense(t, l.Name, licenseReady)
	licenseHas(saasv1alpha1.IssuedCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)(g, after)
	g.Expect(storedKey(t, after)).To(Equal(key))
}

// cacheMissing is a client whose cache has not seen the object called key
// (of any kind), as the manager's misses one it has not delivered yet, or
// one whose kooper labels someone changed: the cache holds only objects
// labelled as kooper's.
type cacheMissing struct {
	client.Client
	key client.ObjectKey
}

func (c cacheMissing) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if key == c.key {
		return apierrors.NewNotFound(schema.GroupResource{}, key.Name)
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

// upgradeLicenseToPro records an upgradeInstance of licence name to the
// pro plan, as the receiver would, with an order the marketplace knows.
func upgradeLicenseToPro(t *testing.T, product *saasv1alpha1.SaaSProduct, name string) {
	t.Helper()
	upgrade := fmt.Sprintf("CS%dUP", tenantSeq.Add(1))
	marketplace.addOrder(upgrade, product.Spec.ProductID, "pro", orderExpiry.Format("20060102150405"))
	updateLicense(t, name, func(l *saasv1alpha1.License) {
		l.Spec.Orders = append(l.Spec.Orders, saasv1alpha1.AppliedOrder{OrderID: upgrade, OrderLineID: upgrade + "-000001",
			Activity: saasv1alpha1.ActivityUpgradeInstance, ReceivedTime: metav1.Now()})
	})
}

// An application is uploaded, which cannot be taken back, only for an
// instance that the API server holds as neither frozen nor released
// (docs/lifecycle.md rule A): a release stored a moment ago, which the
// reconciler's cache has not seen, stops the upload.
func TestAnApplicationOfAnInstanceReleasedBehindTheCacheIsNotUploaded(t *testing.T) {
	g := NewWithT(t)
	product, _ := newLicenseProduct(t, true)
	active := eventuallyLicense(t, newLicense(t, product, "pro").Name, licenseReady)
	updateLicense(t, active.Name, func(l *saasv1alpha1.License) { l.Spec.State = saasv1alpha1.StateReleased })
	eventuallyLicense(t, active.Name, licenseHas(saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.RevokedReason))

	application := newApplication(t, product, active.Name, fmt.Sprintf("EVT%d", tenantSeq.Add(1)))
	// The manager's controller, whose cache saw the release, revokes it.
	eventuallyLicense(t, application.Name, licenseHas(saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.RevokedReason))

	// A reconciler whose cache still shows the instance Active.
	r := &LicenseReconciler{Client: testenv.CacheBehind{Client: k8sClient, Old: active}, Reader: k8sClient, Scheme: k8sClient.Scheme(),
		Recorder: events.NewFakeRecorder(10), Clock: fakeClock, Orders: MarketplaceOrderClients(marketplace.server.URL),
		Uploads: MarketplaceUploadClients(marketplace.server.URL), Options: LicenseOptions{SecretNamespace: operatorNamespace}}
	_, err := r.Reconcile(testContext(t), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(application)})
	g.Expect(err).NotTo(HaveOccurred())
	_, attempts := marketplace.uploaded(application.Spec.EventID)
	g.Expect(attempts).To(BeZero(), "no licence of a released instance reaches the marketplace")
	after := eventuallyLicense(t, application.Name, licenseHas(saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.RevokedReason))
	g.Expect(after.Status.Upload == nil || after.Status.Upload.Attempts == 0).To(BeTrue(), "no attempt recorded: %+v", after.Status.Upload)
}
