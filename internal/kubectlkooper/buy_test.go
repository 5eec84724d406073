package kubectlkooper

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kooper-io/kooper/api/licensekey"
	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// buy makes a debug purchase through the real receiver and waits for
// appInfo, which comes once the tenant is delivered (here the test plays
// the controllers: it records the tenant Ready and copies its
// credentials); the credentials decrypt and are not printed.
func TestBuy(t *testing.T) {
	g := NewWithT(t)
	product := newProduct(t, "buy")

	done := make(chan result, 1)
	go func() {
		done <- kooper("buy", "--product", product.Name, "--receiver-url", receiverURL, "--order-id", "DEBUGBUY1",
			"--poll-interval", "100ms", "--timeout", "30s")
	}()
	tenant := deliverTenant(t, product)
	g.Expect(tenant.Spec.OrderID).To(Equal("DEBUGBUY1"))
	g.Expect(tenant.Spec.Mode).To(Equal(saasv1alpha1.RequestMode("Debug")))

	var r result
	g.Eventually(done).Should(Receive(&r))
	g.Expect(r.code).To(Equal(ExitOK), r.output())
	g.Expect(r.out).To(And(
		ContainSubstring("Product "+product.Name+" (productId OFFI846204237451911168): read basicKey from Secret kooper-test/"+product.Spec.KeysSecretName),
		MatchRegexp(`newInstance \(testFlag 1\) order DEBUGBUY1 line DEBUGBUY1-1: 000000 "[^"]*" in`),
		ContainSubstring("Instance "+tenant.Name+" recorded"),
		MatchRegexp(`queryInstance %s \(.* poll 1\): 00000[04] .*no appInfo yet \(provisioning\)`, tenant.Name),
		ContainSubstring("appInfo: frontEndUrl https://tenant-"+tenant.Name+".app.example.com"),
		ContainSubstring("credentials: userName and password decrypt with the basicKey"),
		ContainSubstring("kubectl kooper describe "+tenant.Name),
	))
	g.Expect(r.output()).NotTo(Or(ContainSubstring("pa55-never-shown"), ContainSubstring(basicKey)))

	// The same order again answers with the same instance, delivered now.
	r = kooper("buy", "--product", product.Name, "--receiver-url", receiverURL, "--order-id", "DEBUGBUY1", "--show-credentials")
	g.Expect(r.code).To(Equal(ExitOK), r.output())
	g.Expect(r.out).To(And(ContainSubstring("Instance "+tenant.Name+" recorded"), ContainSubstring("credentials: userName admin, password pa55-never-shown")))

	// Without --receiver-url, buy port-forwards to the receiver's Service.
	r = kooper("buy", "--product", product.Name)
	g.Expect(r.code).To(Equal(ExitFailed))
	g.Expect(r.errOut).To(ContainSubstring("no receiver Service of kooper in namespace kooper-test"))
}

// deliverTenant plays the controllers for the one tenant of product, once
// newInstance has recorded it: it copies the tenant's credentials
// (admin / pa55-never-shown) and records the tenant Ready.
func deliverTenant(t *testing.T, product *saasv1alpha1.SaaSProduct) *saasv1alpha1.SaaSTenant {
	t.Helper()
	g := NewWithT(t)
	ctx := ctxFor(t)
	tenant := &saasv1alpha1.SaaSTenant{}
	g.Eventually(func(g Gomega) {
		list := &saasv1alpha1.SaaSTenantList{}
		g.Expect(k8sClient.List(ctx, list)).To(Succeed())
		found := false
		for i := range list.Items {
			if list.Items[i].Spec.ProductName == product.Name {
				tenant, found = &list.Items[i], true
			}
		}
		g.Expect(found).To(BeTrue())
	}).Should(Succeed())
	g.Expect(k8sClient.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: kooperNamespace, Name: saasv1alpha1.CredentialsCopyName(tenant.Name)},
		StringData: map[string]string{saasv1alpha1.CredentialsUsernameKey: "admin", saasv1alpha1.CredentialsPasswordKey: "pa55-never-shown"},
	})).To(Succeed())
	g.Eventually(func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(tenant), tenant); err != nil {
			return err
		}
		tenant.Status = readyStatus("tenant-"+tenant.Name, time.Now())
		return k8sClient.Status().Update(ctx, tenant)
	}).Should(Succeed())
	return tenant
}

// With the chart's receiver.pendingResultCode "000004", the receiver
// answers a new purchase's newInstance with 000004 and the instanceId
// while the tenant is provisioning: recorded, so buy polls queryInstance
// (answered 000004 too) until appInfo comes, as for 000000.
func TestBuyTakesNewInstance000004AsRecordedAndProvisioning(t *testing.T) {
	g := NewWithT(t)
	product := newProduct(t, "buypending")

	done := make(chan result, 1)
	go func() {
		done <- kooper("buy", "--product", product.Name, "--receiver-url", pendingReceiverURL, "--order-id", "DEBUGPENDING1",
			"--poll-interval", "100ms", "--timeout", "30s")
	}()
	tenant := deliverTenant(t, product)

	var r result
	g.Eventually(done).Should(Receive(&r))
	g.Expect(r.code).To(Equal(ExitOK), r.output())
	g.Expect(r.out).To(And(
		MatchRegexp(`newInstance \(testFlag 1\) order DEBUGPENDING1 line DEBUGPENDING1-1: 000004 "[^"]*" in`),
		ContainSubstring("Instance "+tenant.Name+" recorded"),
		MatchRegexp(`queryInstance %s \(.* poll 1\): 000004 .*no appInfo yet \(provisioning\)`, tenant.Name),
		MatchRegexp(`queryInstance %s \(.* poll \d+\): 000000 .*appInfo`, tenant.Name),
		ContainSubstring("credentials: userName and password decrypt with the basicKey"),
	))
}

// Any other answer to newInstance, or one without an instanceId, is a
// failure that says what came and what was wanted; nothing is polled.
func TestBuyRefusesNewInstanceAnswersWithoutAnInstance(t *testing.T) {
	product := newProduct(t, "buyrefused")
	t.Run("a code that records nothing", func(t *testing.T) {
		g := NewWithT(t)
		anHourOff := func() time.Time { return time.Now().Add(time.Hour) } // outside the signature window: 000002
		r := kooperAt(anHourOff, "", "buy", "--product", product.Name, "--receiver-url", pendingReceiverURL, "--timeout", "2s")
		g.Expect(r.code).To(Equal(ExitFailed), r.output())
		g.Expect(r.errOut).To(MatchRegexp(`newInstance answered 000002 "[^"]*", not 000000 or 000004 \(recorded, provisioning\) with an instanceId`))
		g.Expect(r.out).NotTo(Or(ContainSubstring("recorded"), ContainSubstring("queryInstance")))
	})
	for _, code := range []string{"000000", "000004"} {
		t.Run(code+" without an instanceId", func(t *testing.T) {
			g := NewWithT(t)
			fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = fmt.Fprintf(w, `{"resultCode":%q,"resultMsg":"fake"}`, code)
			}))
			defer fake.Close()
			r := kooper("buy", "--product", product.Name, "--receiver-url", fake.URL, "--timeout", "2s")
			g.Expect(r.code).To(Equal(ExitFailed), r.output())
			g.Expect(r.errOut).To(ContainSubstring(`newInstance answered ` + code + ` "fake" without an instanceId`))
			g.Expect(r.out).NotTo(Or(ContainSubstring("recorded"), ContainSubstring("queryInstance")))
		})
	}
}

// newLicenseProduct creates a License product with a complete keys Secret
// and a debug plan.
func newLicenseProduct(t *testing.T) *saasv1alpha1.SaaSProduct {
	t.Helper()
	g := NewWithT(t)
	name := fmt.Sprintf("lic-%d", seq.Add(1))
	_, signing, err := ed25519.GenerateKey(rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	signingPEM, err := licensekey.MarshalPrivateKeyPEM(signing)
	g.Expect(err).NotTo(HaveOccurred())
	// A usable signing key: kubectl kooper check judges every product's keys.
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: kooperNamespace, Name: name + "-keys"},
		StringData: map[string]string{saasv1alpha1.BasicKeySecretKey: basicKey, saasv1alpha1.AccessKeyIDSecretKey: "ak",
			saasv1alpha1.SecretAccessKeySecretKey: "sk", saasv1alpha1.LicenseSigningKeySecretKey: string(signingPEM)},
	}
	g.Expect(k8sClient.Create(ctxFor(t), secret)).To(Succeed())
	product := &saasv1alpha1.SaaSProduct{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: saasv1alpha1.SaaSProductSpec{ProductID: "OFFI900000000000000001", Type: saasv1alpha1.ProductTypeLicense, KeysSecretName: secret.Name,
			Plans: []saasv1alpha1.Plan{{SKUCode: "standard", License: &saasv1alpha1.LicenseTerms{Features: []string{"export"}}}},
			Debug: &saasv1alpha1.DebugPolicy{SKUCode: "standard"}},
	}
	g.Expect(k8sClient.Create(ctxFor(t), product)).To(Succeed())
	return product
}

// buy of a License product waits for the licence key in appInfo.memo (here
// the test plays the controllers: it issues the key), says it arrived, and
// prints it only with --show-credentials; no userName is decrypted. While
// it waits, it says so every --progress-interval; on timeout it points to
// the License, which describe does not know (and says so).
func TestBuyLicenseProduct(t *testing.T) {
	g := NewWithT(t)
	ctx := ctxFor(t)
	product := newLicenseProduct(t)
	const licenceKey = "eyJhbGciOiJFZERTQSJ9.test-licence-key.c2ln"

	r := kooper("buy", "--product", product.Name, "--receiver-url", receiverURL, "--order-id", "DEBUGLIC1",
		"--poll-interval", "50ms", "--progress-interval", "200ms", "--timeout", "1s")
	g.Expect(r.code).To(Equal(ExitFailed), r.output())
	g.Expect(r.errOut).NotTo(ContainSubstring("Warning"), "the product has a debug plan")
	g.Expect(r.out).To(MatchRegexp(`Still waiting for appInfo of \S+ \(.* after newInstance, poll \d+, --timeout 1s\)`))
	licence := &saasv1alpha1.License{}
	g.Eventually(func(g Gomega) {
		list := &saasv1alpha1.LicenseList{}
		g.Expect(k8sClient.List(ctx, list)).To(Succeed())
		found := false
		for i := range list.Items {
			if list.Items[i].Spec.ProductName == product.Name {
				licence, found = &list.Items[i], true
			}
		}
		g.Expect(found).To(BeTrue())
	}).Should(Succeed())
	g.Expect(r.errOut).To(ContainSubstring("no appInfo for " + licence.Name + " within 1s. See the licence with: kubectl get license " + licence.Name))

	keySecret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: kooperNamespace, Name: "licence-" + licence.Name},
		StringData: map[string]string{"licenseKey": licenceKey}}
	g.Expect(k8sClient.Create(ctx, keySecret)).To(Succeed())
	licence.Status.LicenseKeyRef = &saasv1alpha1.SecretKeyReference{Namespace: kooperNamespace, Name: keySecret.Name, Key: "licenseKey"}
	licence.Status.Conditions = []metav1.Condition{{Type: saasv1alpha1.IssuedCondition, Status: metav1.ConditionTrue, Reason: "Issued",
		LastTransitionTime: metav1.Now()}}
	g.Expect(k8sClient.Status().Update(ctx, licence)).To(Succeed())

	g.Eventually(func(g Gomega) {
		r = kooper("buy", "--product", product.Name, "--receiver-url", receiverURL, "--order-id", "DEBUGLIC1", "--timeout", "2s")
		g.Expect(r.code).To(Equal(ExitOK), r.output())
	}).Should(Succeed())
	g.Expect(r.out).To(And(
		ContainSubstring("Instance "+licence.Name+" recorded"),
		ContainSubstring("licence key: delivered in appInfo.memo"),
		ContainSubstring("See the licence with: kubectl get license "+licence.Name),
	))
	g.Expect(r.output()).NotTo(Or(ContainSubstring(licenceKey), ContainSubstring("userName")))

	r = kooper("buy", "--product", product.Name, "--receiver-url", receiverURL, "--order-id", "DEBUGLIC1", "--show-credentials")
	g.Expect(r.code).To(Equal(ExitOK), r.output())
	g.Expect(r.out).To(ContainSubstring("licence key (appInfo.memo): " + licenceKey))
	r = kooper("describe", licence.Name)
	g.Expect(r.code).To(Equal(ExitFailed))
	g.Expect(r.errOut).To(ContainSubstring("no SaaSTenant " + licence.Name + "; it is a License: kubectl get license " + licence.Name))
}

// --receiver-url takes the base URL or the production URL (never doubling
// /koogallery/<product>); a malformed one, or the production URL of another
// product, is wrong usage, refused before anything is sent.
func TestBuyReceiverURLForms(t *testing.T) {
	product := newProduct(t, "buyurl")
	cases := []struct {
		name string
		url  string
		want int
		says string
	}{
		{"the base URL", receiverURL, ExitOK, "newInstance (testFlag 1)"},
		{"the base URL with a slash", receiverURL + "/", ExitOK, "newInstance (testFlag 1)"},
		{"the production URL", receiverURL + "/koogallery/" + product.Name, ExitOK, "newInstance (testFlag 1)"},
		{"another product's production URL", receiverURL + "/koogallery/other", ExitUsage, "is the production URL of product other"},
		{"no scheme", "crm.example.com", ExitUsage, "give the receiver's base URL (https://crm.example.com) or a production URL"},
		{"no host", "http://", ExitUsage, "is not a URL kooper's receiver answers at"},
		{"ftp", "ftp://crm.example.com", ExitUsage, "is not a URL kooper's receiver answers at"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			r := kooper("buy", "--product", product.Name, "--receiver-url", tc.url, "--order-id", fmt.Sprintf("DEBUGURL%d", i), "--timeout", "300ms")
			if tc.want == ExitOK { // no controllers run here: the purchase is sent and answered, appInfo never comes
				g.Expect(r.out).To(ContainSubstring(tc.says), r.output())
				g.Expect(r.errOut).To(ContainSubstring("no appInfo for"))
				return
			}
			g.Expect(r.code).To(Equal(tc.want), r.output())
			g.Expect(r.errOut).To(ContainSubstring(tc.says))
			g.Expect(r.out).NotTo(ContainSubstring("newInstance"), "refused before anything is sent")
		})
	}
}

// buy warns, before buying, of a product without spec.debug.skuCode, and
// names the products there are when --product names none.
func TestBuyWarnsAndNamesProducts(t *testing.T) {
	g := NewWithT(t)
	product := newProduct(t, "buywarn")
	r := kooper("buy", "--product", product.Name, "--receiver-url", receiverURL, "--timeout", "200ms")
	g.Expect(r.errOut).To(ContainSubstring("Warning: SaaSProduct " + product.Name + " has no spec.debug.skuCode"))
	g.Expect(r.errOut).To(ContainSubstring("OrderQueryFailed"))
	g.Expect(r.out).To(ContainSubstring("newInstance (testFlag 1)"), "a warning, not a failure")

	r = kooper("buy", "--product", "nope")
	g.Expect(r.code).To(Equal(ExitFailed))
	g.Expect(r.errOut).To(And(ContainSubstring("no SaaSProduct of that name; --product is one of: "), ContainSubstring(product.Name)))
}

// On a timeout, buy says why there is no appInfo in the record's own
// words: its Ready condition (found by a fresh-user trial).
func TestBuyTimeoutSaysWhyInTheRecordsWords(t *testing.T) {
	g := NewWithT(t)
	ctx := ctxFor(t)
	id := fmt.Sprintf("i-why-%d", seq.Add(1))
	tenant := &saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{Name: id},
		Spec: saasv1alpha1.SaaSTenantSpec{InstanceID: id, ProductName: "crm", OrderID: "o", OrderLineID: "o-1"}}
	g.Expect(k8sClient.Create(ctx, tenant)).To(Succeed())
	tenant.Status.Conditions = []metav1.Condition{{Type: saasv1alpha1.ReadyCondition, Status: metav1.ConditionFalse,
		Reason: saasv1alpha1.WorkloadUnavailableReason, Message: "Deployment: Available: 0/1", LastTransitionTime: metav1.Now()}}
	g.Expect(k8sClient.Status().Update(ctx, tenant)).To(Succeed())

	b := &buyer{buyFlags: &buyFlags{}, reader: k8sClient}
	g.Expect(b.readiness(ctx, tenant.Name)).To(Equal(", Ready False WorkloadUnavailable: Deployment: Available: 0/1"))
	g.Expect(b.readiness(ctx, "i-none")).To(BeEmpty(), "no record: nothing to add")
}
