package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/directory"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/webhook"
)

// setRSAKey puts a PEM RSA private key into product's keys Secret, as a
// merchant replacing it with kubectl would; nil puts a newly drawn key.
func setRSAKey(t *testing.T, product *saasv1alpha1.SaaSProduct, pemKey []byte) {
	t.Helper()
	g := NewWithT(t)
	if pemKey == nil {
		key, err := koogallery.GenerateRSAKey(koogallery.MinRSABits)
		g.Expect(err).NotTo(HaveOccurred())
		pemKey, err = koogallery.PrivateKeyPEM(key)
		g.Expect(err).NotTo(HaveOccurred())
	}
	secret := &corev1.Secret{}
	g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Namespace: operatorNamespace, Name: product.Spec.KeysSecretName}, secret)).To(Succeed())
	patch := client.MergeFrom(secret.DeepCopy())
	secret.Data[saasv1alpha1.RSAPrivateKeySecretKey] = pemKey
	g.Expect(k8sClient.Patch(testContext(t), secret, patch)).To(Succeed())
}

// testRSAKeyPEM is the key kitProduct gives every product.
func testRSAKeyPEM(t *testing.T) []byte {
	t.Helper()
	key, err := directoryRSAKey()
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	pemKey, err := koogallery.PrivateKeyPEM(key)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	return pemKey
}

// deliveredClientSecret is the clientSecret kooper-sso carries in namespace.
func deliveredClientSecret(t *testing.T, namespace string) string {
	t.Helper()
	return string(getObject(t, &corev1.Secret{}, namespace, saasv1alpha1.SSOSecretName).Data["clientSecret"])
}

// With a replaced rsaPrivateKey kooper-sso cannot be built; the users must
// be delivered still, since the users shards are what the SSO gateway
// admits by (internal/ssogateway, read again every 10 s): a user whose
// authorisation the kit cancels must stop being let in.
func TestAnUndecryptableClientSecretStillDeliversTheUsersAndWarns(t *testing.T) {
	g := NewWithT(t)
	product := kitProduct(t, nil)
	tenant := newTenant(t, product, "basic", nil)
	namespace := eventuallyTenant(t, tenant.Name, provisioned).Status.Namespace
	tenantID := "tenant-rekeyed"
	syncEnterprise(t, product.Name, tenant.Name, tenantID, "client-1", kitUsers(0, 3))
	eventuallyDirectory(t, tenant.Name, tenantID, delivered(saasv1alpha1.SucceededReason))

	setRSAKey(t, product, nil)
	cancel := kitBody(tenant.Name, tenantID, `"appId":"app-1","userList":`+kitUsers(1, 2)+`,"currentSyncTime":"2","flag":3`)
	g.Expect(kitCall(t, product.Name, koogallery.KitAuthSync, cancel)).To(Equal("000000"))
	d := eventuallyDirectory(t, tenant.Name, tenantID, directorySettled(2))
	c := apimeta.FindStatusCondition(d.Status.Conditions, saasv1alpha1.DeliveredCondition)
	g.Expect(c.Reason).To(Equal(saasv1alpha1.ClientSecretUndecryptableReason), c.Message)

	g.Expect(keysOf(readDelivered(t, g, namespace, directory.Users))).To(ConsistOf("app-1/user00000", "app-1/user00002"),
		"the cancelled user is no longer delivered")
	g.Expect(deliveredClientSecret(t, namespace)).To(Equal("secret-of-client-1"), "kooper-sso stays as last delivered")
	g.Expect(readTenant(t, g, tenant.Name).Status.Directory).To(HaveField("Users", BeEquivalentTo(2)))
	g.Eventually(func(g Gomega) {
		g.Expect(warningEvents(t, g, d.Name)).To(ContainElement(saasv1alpha1.ClientSecretUndecryptableReason))
	}, 10*time.Second).Should(Succeed())
}

// The condition's remedy, a key that opens the stored clientSecret, must
// deliver kooper-sso by itself: no kit call follows a key change.
func TestPuttingBackTheRSAKeyDeliversAnUndecryptableDirectory(t *testing.T) {
	g := NewWithT(t)
	product := kitProduct(t, nil)
	tenant := newTenant(t, product, "basic", nil)
	namespace := eventuallyTenant(t, tenant.Name, provisioned).Status.Namespace
	tenantID := "tenant-key-back"
	syncEnterprise(t, product.Name, tenant.Name, tenantID, "client-1", kitUsers(0, 2))
	eventuallyDirectory(t, tenant.Name, tenantID, delivered(saasv1alpha1.SucceededReason))

	setRSAKey(t, product, nil)
	// The enterprise renamed: kooper-sso, which carries the name, is built again.
	renamed := `"orderId":"","tenantCode":"` + tenantID + `","name":"Renamed","domainName":"https://` + tenantID + `.example.com/","flag":2`
	g.Expect(kitCall(t, product.Name, koogallery.KitTenantSync, kitBody(tenant.Name, tenantID, renamed))).To(Equal("000000"))
	eventuallyDirectory(t, tenant.Name, tenantID, delivered(saasv1alpha1.ClientSecretUndecryptableReason))

	setRSAKey(t, product, testRSAKeyPEM(t))
	g.Eventually(func(g Gomega) {
		d := &saasv1alpha1.SaaSDirectory{}
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Name: webhook.DirectoryName(tenant.Name, tenantID)}, d)).To(Succeed())
		g.Expect(apimeta.IsStatusConditionTrue(d.Status.Conditions, saasv1alpha1.DeliveredCondition)).To(BeTrue())
	}, 20*time.Second).Should(Succeed())
	sso := getObject(t, &corev1.Secret{}, namespace, saasv1alpha1.SSOSecretName)
	g.Expect(sso.Data).To(And(HaveKeyWithValue("tenantName", []byte("Renamed")), HaveKeyWithValue("clientSecret", []byte("secret-of-client-1"))))
}

// A keys Secret or product that cannot be read now (the API server
// briefly away) is no reason to stop: the users are delivered, and the
// error is returned, so controller-runtime logs it and retries with
// backoff, instead of waiting for a key change that will never come.
func TestAKeysSecretThatCannotBeReadNowDeliversTheUsersAndIsRetried(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	product := kitProduct(t, nil)
	namespace := fmt.Sprintf("dir-keys-%d", tenantSeq.Add(1))
	g.Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}})).To(Succeed())
	key, err := directoryRSAKey()
	g.Expect(err).NotTo(HaveOccurred())
	secret, err := koogallery.EncryptClientSecret(&key.PublicKey, "the-client-secret", koogallery.OAEPSHA256MGF1SHA1)
	g.Expect(err).NotTo(HaveOccurred())
	// A directory of the test's own, never stored: the suite's controller
	// does not reconcile it meanwhile.
	d := &saasv1alpha1.SaaSDirectory{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("d-keys%d", tenantSeq.Add(1))},
		Spec: saasv1alpha1.SaaSDirectorySpec{InstanceID: "i-keys", TenantID: "tenant-keys", ProductName: product.Name,
			State: saasv1alpha1.DirectoryActive, Mode: saasv1alpha1.ModeProduction,
			Applications: []saasv1alpha1.DirectoryApplication{{AppID: "app-1", ClientID: "client-1",
				EncryptedClientSecret: secret, OAEPHash: string(koogallery.OAEPSHA256MGF1SHA1)}}}}
	users := storedUsers(t, 0, 3)
	shards := shardSet{{ObjectMeta: shardMeta(d, directoryNamespace, directory.Users, 0, len(users)),
		Data: map[string][]byte{directory.DataKey(directory.Users, 0): []byte(directory.Encode(users))}}}
	d.Status.Users = 3

	unavailable := apierrors.NewServiceUnavailable("the API server is shutting down")
	c := interceptor.NewClient(withWatch{k8sClient}, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, ok := obj.(*corev1.Secret); ok && key.Name == product.Spec.KeysSecretName {
				return unavailable
			}
			return c.Get(ctx, key, obj, opts...)
		},
	})
	r, _ := directReconciler(c, time.Now())
	o := r.deliverToTenant(ctx, &directoryState{dir: d, namespace: namespace, shards: shards})

	g.Expect(o.err).To(MatchError(unavailable), "returned, to be retried with backoff")
	cond := apimeta.FindStatusCondition(d.Status.Conditions, saasv1alpha1.DeliveredCondition)
	g.Expect(cond).NotTo(BeNil())
	g.Expect(cond.Reason).To(Equal(saasv1alpha1.DeliveryFailedReason), cond.Message)
	g.Expect(keysOf(readDelivered(t, g, namespace, directory.Users))).To(ConsistOf("app-1/user00000", "app-1/user00001", "app-1/user00002"))
}
