package controllers

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

var productCounter atomic.Int64

func newProduct(t *testing.T, keysSecret string) *saasv1alpha1.SaaSProduct {
	t.Helper()
	product := &saasv1alpha1.SaaSProduct{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("product-%d", productCounter.Add(1))},
		Spec: saasv1alpha1.SaaSProductSpec{
			ProductID:      "OFFI846204237451911168",
			KeysSecretName: keysSecret,
			URLs:           &saasv1alpha1.URLTemplates{FrontEndURL: "https://{{.InstanceID}}.app.example.com"},
			Workload: &saasv1alpha1.WorkloadTemplate{
				Image: "registry.example.com/app:1.0",
				Ports: []saasv1alpha1.WorkloadPort{{Name: "http", ContainerPort: 8080}},
			},
			Plans: []saasv1alpha1.Plan{{SKUCode: "basic"}},
		},
	}
	NewWithT(t).Expect(k8sClient.Create(testContext(t), product)).To(Succeed())
	return product
}

func keysSecret(namespace, name string, data map[string]string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, StringData: data}
}

var completeKeys = map[string]string{
	saasv1alpha1.BasicKeySecretKey:        "test-access-key",
	saasv1alpha1.AccessKeyIDSecretKey:     "QTWAOYTTINDUT2QVKYUC",
	saasv1alpha1.SecretAccessKeySecretKey: "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc",
}

// expectCondition waits until the product's condition has the given status and reason.
func expectCondition(t *testing.T, product *saasv1alpha1.SaaSProduct, condType string, status metav1.ConditionStatus, reason string) *metav1.Condition {
	t.Helper()
	var cond *metav1.Condition
	NewWithT(t).Eventually(func(g Gomega) {
		got := &saasv1alpha1.SaaSProduct{}
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(product), got)).To(Succeed())
		cond = apimeta.FindStatusCondition(got.Status.Conditions, condType)
		g.Expect(cond).NotTo(BeNil())
		g.Expect(cond.Status).To(Equal(status))
		g.Expect(cond.Reason).To(Equal(reason))
		g.Expect(cond.ObservedGeneration).To(Equal(got.Generation))
		g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
	}).Should(Succeed())
	return cond
}

func TestProductWithoutKeysSecretIsNotReady(t *testing.T) {
	product := newProduct(t, "absent-keys")
	cond := expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.KeysSecretNotFoundReason)
	NewWithT(t).Expect(cond.Message).To(Equal("Secret kooper-test/absent-keys not found"))
	expectCondition(t, product, saasv1alpha1.KeysAvailableCondition, metav1.ConditionFalse, saasv1alpha1.KeysSecretNotFoundReason)
	expectEvent(t, product.Name, corev1.EventTypeWarning, saasv1alpha1.KeysSecretNotFoundReason)
}

func TestProductBecomesReadyWhenItsKeysArrive(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	product := newProduct(t, "late-keys")
	expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.KeysSecretNotFoundReason)

	secret := keysSecret(operatorNamespace, "late-keys", map[string]string{saasv1alpha1.BasicKeySecretKey: "test-access-key"})
	g.Expect(k8sClient.Create(ctx, secret)).To(Succeed())
	cond := expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.KeysSecretIncompleteReason)
	g.Expect(cond.Message).To(Equal("Secret kooper-test/late-keys lacks accessKeyId, secretAccessKey"))
	g.Expect(cond.Message).NotTo(ContainSubstring("test-access-key"), "a key value leaked into status")

	patch := client.MergeFrom(secret.DeepCopy())
	secret.StringData = completeKeys
	g.Expect(k8sClient.Patch(ctx, secret, patch)).To(Succeed())
	expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
	cond = expectCondition(t, product, saasv1alpha1.KeysAvailableCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
	g.Expect(cond.Message).To(Equal("Keys found in Secret kooper-test/late-keys"))
	expectEvent(t, product.Name, corev1.EventTypeNormal, saasv1alpha1.SucceededReason)
}

// A product's keys Secret is kept while the product names it: without it,
// every callback for the product would fail. Pointed at a Secret that does
// not exist, the product loses readiness, and the old Secret may go.
func TestProductLosesReadinessWhenItsKeysGo(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	secret := keysSecret(operatorNamespace, "doomed-keys", completeKeys)
	g.Expect(k8sClient.Create(ctx, secret)).To(Succeed())
	product := newProduct(t, "doomed-keys")
	expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
	expectInUse(t, secret)

	g.Expect(k8sClient.Delete(ctx, secret)).To(Succeed())
	expectEventSaying(t, secret.Name, saasv1alpha1.InUseReason, product.Name)
	g.Consistently(isGone(t, secret)).Should(BeFalse(), "a product names it")

	stored := &saasv1alpha1.SaaSProduct{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(product), stored)).To(Succeed())
	patch := client.MergeFrom(stored.DeepCopy())
	stored.Spec.KeysSecretName = "no-such-keys"
	g.Expect(k8sClient.Patch(ctx, stored, patch)).To(Succeed())
	expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.KeysSecretNotFoundReason)
	expectEvent(t, product.Name, corev1.EventTypeWarning, saasv1alpha1.KeysSecretNotFoundReason)
	g.Eventually(isGone(t, secret)).Should(BeTrue(), "no product names it any longer")
}

func TestProductIgnoresSecretsOutsideKoopersNamespace(t *testing.T) {
	g := NewWithT(t)
	g.Expect(k8sClient.Create(testContext(t), keysSecret("elsewhere", "stray-keys", completeKeys))).To(Succeed())
	product := newProduct(t, "stray-keys")
	expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.KeysSecretNotFoundReason)
}

func TestProductFollowsAChangeOfKeysSecret(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	g.Expect(k8sClient.Create(ctx, keysSecret(operatorNamespace, "new-keys", completeKeys))).To(Succeed())
	product := newProduct(t, "old-keys")
	expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.KeysSecretNotFoundReason)

	patch := client.MergeFrom(product.DeepCopy())
	product.Spec.KeysSecretName = "new-keys"
	g.Expect(k8sClient.Patch(ctx, product, patch)).To(Succeed())
	expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
}

func TestProductReconcileWithoutChangeWritesNothing(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	g.Expect(k8sClient.Create(ctx, keysSecret(operatorNamespace, "steady-keys", completeKeys))).To(Succeed())
	product := newProduct(t, "steady-keys")
	expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
	// The rollout controller records the product's first revision, its
	// rollout complete (no tenants), in a status write of its own, which
	// may come after Ready on a loaded machine (CI's run of this stop):
	// the product is settled only then.
	g.Eventually(func(g Gomega) {
		got := &saasv1alpha1.SaaSProduct{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(product), got)).To(Succeed())
		g.Expect(got.Status.Rollout).NotTo(BeNil())
		g.Expect(got.Status.Rollout.State).To(Equal(saasv1alpha1.RolloutComplete))
		product = got
	}).Should(Succeed())

	// Ask for a reconcile; the object's resourceVersion after that request
	// must stay put, because nothing in status needs to change.
	patch := client.MergeFrom(product.DeepCopy())
	product.Annotations = map[string]string{saasv1alpha1.ReconcileRequestedAnnotation: "1"}
	g.Expect(k8sClient.Patch(ctx, product, patch)).To(Succeed())
	requested := product.ResourceVersion
	g.Consistently(func() (string, error) {
		got := &saasv1alpha1.SaaSProduct{}
		err := k8sClient.Get(ctx, client.ObjectKeyFromObject(product), got)
		return got.ResourceVersion, err
	}).Should(Equal(requested))
}

// expectEvent waits for an Event about the named object with the given type and reason.
func expectEvent(t *testing.T, name, eventType, reason string) {
	t.Helper()
	NewWithT(t).Eventually(func() ([]eventsv1.Event, error) {
		list := &eventsv1.EventList{}
		err := k8sClient.List(context.Background(), list)
		var matching []eventsv1.Event
		for _, e := range list.Items {
			if e.Regarding.Name == name && e.Type == eventType && e.Reason == reason {
				matching = append(matching, e)
			}
		}
		return matching, err
	}).ShouldNot(BeEmpty())
}

// patchKeys sets (or, for an empty value, removes) keys of a keys Secret
// with a merge patch, as kubectl patch does.
func patchKeys(t *testing.T, name string, data map[string]string) {
	t.Helper()
	g := NewWithT(t)
	secret := &corev1.Secret{}
	g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Namespace: operatorNamespace, Name: name}, secret)).To(Succeed())
	patch := client.MergeFrom(secret.DeepCopy())
	for k, v := range data {
		if v == "" {
			delete(secret.Data, k)
		} else {
			secret.Data[k] = []byte(v)
		}
	}
	g.Expect(k8sClient.Patch(testContext(t), secret, patch)).To(Succeed())
}

// A joint-operation product receives the kit's sync calls, which the
// receiver answers 000005 without kitKey, and applicationSync also without
// a usable rsaPrivateKey: its keys are not available until both are there.
// They were reported available with the basic keys alone, while every kit
// call was refused.
func TestJointOperationProductNeedsItsKitKeys(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Workload.Directory = &saasv1alpha1.DirectoryMount{MountPath: "/etc/kooper"}
	})
	cond := expectCondition(t, product, saasv1alpha1.KeysAvailableCondition, metav1.ConditionFalse, saasv1alpha1.KeysSecretIncompleteReason)
	g.Expect(cond.Message).To(Equal(fmt.Sprintf("Secret %s/%s lacks kitKey, rsaPrivateKey", operatorNamespace, product.Spec.KeysSecretName)))
	expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.KeysSecretIncompleteReason)

	const notAKey = "not-an-rsa-key-value"
	patchKeys(t, product.Spec.KeysSecretName, map[string]string{saasv1alpha1.KitKeySecretKey: directoryKitKey, saasv1alpha1.RSAPrivateKeySecretKey: notAKey})
	g.Eventually(func(g Gomega) {
		got := &saasv1alpha1.SaaSProduct{}
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(product), got)).To(Succeed())
		cond := apimeta.FindStatusCondition(got.Status.Conditions, saasv1alpha1.KeysAvailableCondition)
		g.Expect(cond).NotTo(BeNil())
		g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(cond.Reason).To(Equal(saasv1alpha1.KeysSecretIncompleteReason))
		g.Expect(cond.Message).To(ContainSubstring("rsaPrivateKey is not usable"))
		g.Expect(cond.Message).NotTo(ContainSubstring(notAKey), "a key value leaked into status")
	}).Should(Succeed())

	key, err := directoryRSAKey()
	g.Expect(err).NotTo(HaveOccurred())
	pemKey, err := koogallery.PrivateKeyPEM(key)
	g.Expect(err).NotTo(HaveOccurred())
	patchKeys(t, product.Spec.KeysSecretName, map[string]string{saasv1alpha1.RSAPrivateKeySecretKey: string(pemKey)})
	expectCondition(t, product, saasv1alpha1.KeysAvailableCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
	expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
}

// A License product's licenseSigningKey must be a PEM Ed25519 private key:
// with anything else its licences stall and its revocation list answers
// 503, so its keys are not available, and the condition names the key,
// never its value.
func TestLicenseProductWithAnUnusableSigningKeyIsNotReady(t *testing.T) {
	g := NewWithT(t)
	product, _ := newLicenseProduct(t, true)
	expectCondition(t, product, saasv1alpha1.KeysAvailableCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)

	const notAKey = "this-is-no-ed25519-key"
	patchKeys(t, product.Spec.KeysSecretName, map[string]string{saasv1alpha1.LicenseSigningKeySecretKey: notAKey})
	cond := expectCondition(t, product, saasv1alpha1.KeysAvailableCondition, metav1.ConditionFalse, saasv1alpha1.KeysSecretIncompleteReason)
	g.Expect(cond.Message).To(Equal(fmt.Sprintf("Secret %s/%s: licenseSigningKey is not usable: it is not a PEM Ed25519 private key",
		operatorNamespace, product.Spec.KeysSecretName)))
	g.Expect(cond.Message).NotTo(ContainSubstring(notAKey), "a key value leaked into status")
	expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.KeysSecretIncompleteReason)
}
