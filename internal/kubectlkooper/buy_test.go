package kubectlkooper

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// buy makes a debug purchase through the real receiver and waits for
// appInfo, which comes once the tenant is delivered (here the test plays
// the controllers: it records the tenant Ready and copies its
// credentials); the credentials decrypt and are not printed.
func TestBuy(t *testing.T) {
	g := NewWithT(t)
	ctx := ctxFor(t)
	product := newProduct(t, "buy")

	done := make(chan result, 1)
	go func() {
		done <- kooper("buy", "--product", product.Name, "--receiver-url", receiverURL, "--order-id", "DEBUGBUY1",
			"--poll-interval", "100ms", "--timeout", "30s")
	}()
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
	g.Expect(tenant.Spec.OrderID).To(Equal("DEBUGBUY1"))
	g.Expect(tenant.Spec.Mode).To(Equal(saasv1alpha1.RequestMode("Debug")))
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
