package webhook

import (
	"bytes"
	"crypto/rsa"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/directory"
	"github.com/kooper-io/kooper/internal/koogallery"
)

const testKitKey = "test-kit-key"

// merchantKey is the merchant's RSA key pair; 3072 bits take a while to
// generate, so every test shares one.
var merchantKey = sync.OnceValues(func() (*rsa.PrivateKey, error) {
	return koogallery.GenerateRSAKey(koogallery.MinRSABits)
})

// newKitFixture is a SaaS product whose keys Secret also holds a kit key and
// the merchant's RSA private key.
func newKitFixture(t *testing.T) *fixture {
	t.Helper()
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	key, err := merchantKey()
	g.Expect(err).NotTo(HaveOccurred())
	pemKey, err := koogallery.PrivateKeyPEM(key)
	g.Expect(err).NotTo(HaveOccurred())
	secret := &corev1.Secret{}
	g.Expect(k8sClient.Get(ctxFor(t), client.ObjectKey{Namespace: operatorNamespace, Name: f.product.Spec.KeysSecretName}, secret)).To(Succeed())
	secret.Data[saasv1alpha1.KitKeySecretKey] = []byte(testKitKey)
	secret.Data[saasv1alpha1.RSAPrivateKeySecretKey] = pemKey
	g.Expect(k8sClient.Update(ctxFor(t), secret)).To(Succeed())
	// The receiver reads the Secret through its cache.
	g.Eventually(func() []byte {
		cached := &corev1.Secret{}
		_ = receiver.client.Get(ctxFor(t), client.ObjectKeyFromObject(secret), cached)
		return cached.Data[saasv1alpha1.KitKeySecretKey]
	}).ShouldNot(BeEmpty())
	return f
}

// kitHeaders signs body as the kit does (§2.2), now, with a fresh nonce.
func kitHeaders(t *testing.T, key, body string) http.Header {
	t.Helper()
	canonical, err := koogallery.CanonicalKitPayload([]byte(body))
	if err != nil {
		t.Fatalf("test body does not canonicalise: %v", err)
	}
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	nonce := randomNonce()
	h := http.Header{}
	h.Set("x-sign", koogallery.SignKit(key, nonce, ts, canonical))
	h.Set("x-timestamp", ts)
	h.Set("x-nonce", nonce)
	return h
}

// kit sends a kit call signed with the kit key.
func (f *fixture) kit(t *testing.T, name koogallery.KitInterface, body string) answer {
	t.Helper()
	return postKit(t, http.MethodPost, f.product.Name, string(name), kitHeaders(t, testKitKey, body), body)
}

func postKit(t *testing.T, method, product, name string, h http.Header, body string) answer {
	t.Helper()
	return postKitTo(t, receiverURL, method, product, name, h, body)
}

// postKitTo sends a kit call to the receiver at base.
func postKitTo(t *testing.T, base, method, product, name string, h http.Header, body string) answer {
	t.Helper()
	target := base + CallbackPathPrefix + product + koogallery.KitPathPrefix + name
	req, err := http.NewRequest(method, target, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	req.Header.Set("Content-Type", "application/json;charset=utf8")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return decodeAnswer(t, resp)
}

var tenantSeq atomic.Int64

// kitIDs returns a fresh instance and tenant ID.
func kitIDs() (instanceID, tenantID string) {
	n := tenantSeq.Add(1)
	return fmt.Sprintf("i-kit%d-%d", time.Now().UnixNano(), n), fmt.Sprintf("tenant-%d", n)
}

func tenantSyncBody(instanceID, tenantID string, flag int) string {
	return fmt.Sprintf(`{"instanceId":%q,"orderId":"","tenantId":%q,"tenantCode":"acme","name":"ACME","domainName":"https://acme.tenantaccount.com","flag":%d,"testFlag":1,"timeStamp":"20220413093539534"}`,
		instanceID, tenantID, flag)
}

func applicationSyncBody(instanceID, tenantID, secret string, flag int) string {
	return fmt.Sprintf(`{"instanceId":%q,"tenantId":%q,"appId":"app-1","clientId":"client-1","clientSecret":%q,"flag":%d,"testFlag":0,"timeStamp":"20220413093539534"}`,
		instanceID, tenantID, secret, flag)
}

// authSyncBody carries users from to to-1.
func authSyncBody(instanceID, tenantID string, from, to, flag int) string {
	users := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		users = append(users, fmt.Sprintf(`{"userName":"user%05d","name":"User %d","orgCode":"d%d","role":"user","enable":"true","employeeType":1}`, i, i, i%7))
	}
	return fmt.Sprintf(`{"instanceId":%q,"tenantId":%q,"appId":"app-1","userList":[%s],"currentSyncTime":"20220413093539534","flag":%d,"testFlag":0,"timeStamp":"20220413093539534"}`,
		instanceID, tenantID, strings.Join(users, ","), flag)
}

func orgsJSON(codes ...string) string {
	orgs := make([]string, 0, len(codes))
	for i, code := range codes {
		parent := ""
		if i > 0 {
			parent = codes[0]
		}
		orgs = append(orgs, fmt.Sprintf(`{"orgCode":%q,"orgName":"Dept %s","parentCode":%q}`, code, code, parent))
	}
	return "[" + strings.Join(orgs, ",") + "]"
}

func allOrgSyncBody(instanceID, tenantID, list string) string {
	return fmt.Sprintf(`{"instanceId":%q,"tenantId":%q,"orgInfoList":%s,"testFlag":0,"timeStamp":"20220413093539534"}`, instanceID, tenantID, list)
}

// storedDirectory reads a directory and its shard Secrets from the API server.
func storedDirectory(t *testing.T, instanceID, tenantID string) (*saasv1alpha1.SaaSDirectory, map[directory.Part][]directory.Entry) {
	t.Helper()
	g := NewWithT(t)
	d := &saasv1alpha1.SaaSDirectory{}
	g.Expect(k8sClient.Get(ctxFor(t), client.ObjectKey{Name: DirectoryName(instanceID, tenantID)}, d)).To(Succeed())
	// Shards are Secrets: users carry personal data. None is a ConfigMap.
	configMaps := &corev1.ConfigMapList{}
	g.Expect(k8sClient.List(ctxFor(t), configMaps, client.MatchingLabels{saasv1alpha1.DirectoryLabel: d.Name})).To(Succeed())
	g.Expect(configMaps.Items).To(BeEmpty(), "shards stored as ConfigMaps")
	list := &corev1.SecretList{}
	g.Expect(k8sClient.List(ctxFor(t), list, client.InNamespace(directoryNamespace), client.MatchingLabels{saasv1alpha1.DirectoryLabel: d.Name})).To(Succeed())
	parts := map[directory.Part][]directory.Entry{}
	for _, s := range list.Items {
		part := directory.Part(s.Labels[saasv1alpha1.DirectoryPartLabel])
		g.Expect(s.Type).To(Equal(corev1.SecretTypeOpaque), "shard %s", s.Name)
		g.Expect(s.Annotations).To(HaveKey(saasv1alpha1.DirectoryCountAnnotation), "shard %s", s.Name)
		g.Expect(s.Annotations).To(HaveKeyWithValue(saasv1alpha1.ShardDirectoryUIDAnnotation, string(d.ShardOwnerID())), "shard %s is written for its directory", s.Name)
		// The ID is the directory's first UID, which a kooper of the version
		// before, during a rolling upgrade, reads the annotation against.
		g.Expect(d.ShardOwnerID()).To(Equal(d.UID), "directory %s's ID is its UID", d.Name)
		g.Expect(s.OwnerReferences).To(BeEmpty(), "shard %s has no owner for the garbage collector to follow", s.Name)
		for _, data := range s.Data {
			g.Expect(len(data)).To(BeNumerically("<=", 512<<10), "shard %s stays well under the object size limit", s.Name)
			entries, err := directory.Decode(part, string(data))
			g.Expect(err).NotTo(HaveOccurred())
			parts[part] = append(parts[part], entries...)
		}
	}
	return d, parts
}
