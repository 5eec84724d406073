package controllers

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/directory"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/tenantobjects"
	"github.com/kooper-io/kooper/webhook"
)

const directoryKitKey = "test-kit-key"

var directoryRSAKey = sync.OnceValues(func() (*rsa.PrivateKey, error) {
	return koogallery.GenerateRSAKey(koogallery.MinRSABits)
})

// kitProduct is a SaaS product whose keys also hold a kit key and the
// merchant's RSA private key.
func kitProduct(t *testing.T, change func(*saasv1alpha1.SaaSProduct)) *saasv1alpha1.SaaSProduct {
	t.Helper()
	g := NewWithT(t)
	product := newTenantProduct(t, change)
	key, err := directoryRSAKey()
	g.Expect(err).NotTo(HaveOccurred())
	pemKey, err := koogallery.PrivateKeyPEM(key)
	g.Expect(err).NotTo(HaveOccurred())
	secret := &corev1.Secret{}
	g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Namespace: operatorNamespace, Name: product.Spec.KeysSecretName}, secret)).To(Succeed())
	// A merge patch, as kubectl patch sends: the controllers put their
	// finalizer on the Secret meanwhile.
	patch := client.MergeFrom(secret.DeepCopy())
	secret.Data[saasv1alpha1.KitKeySecretKey] = []byte(directoryKitKey)
	secret.Data[saasv1alpha1.RSAPrivateKeySecretKey] = pemKey
	g.Expect(k8sClient.Patch(testContext(t), secret, patch)).To(Succeed())
	return product
}

// kitCall sends a signed kit call; until the receiver's cache has the new
// keys it may answer 000005, so it is retried until it answers something else.
func kitCall(t *testing.T, product string, name koogallery.KitInterface, body string) string {
	t.Helper()
	var code string
	NewWithT(t).Eventually(func(g Gomega) {
		code = postKitOnce(g, product, name, body)
		g.Expect(code).NotTo(Equal(string(koogallery.ResultInternalError)))
	}).Should(Succeed())
	return code
}

func postKitOnce(g Gomega, product string, name koogallery.KitInterface, body string) string {
	canonical, err := koogallery.CanonicalKitPayload([]byte(body))
	g.Expect(err).NotTo(HaveOccurred())
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	req, err := http.NewRequest(http.MethodPost, receiverURL+webhook.CallbackPathPrefix+product+koogallery.KitPathPrefix+string(name), bytes.NewBufferString(body))
	g.Expect(err).NotTo(HaveOccurred())
	req.Header.Set("x-sign", koogallery.SignKit(directoryKitKey, hex.EncodeToString(nonce), ts, canonical))
	req.Header.Set("x-timestamp", ts)
	req.Header.Set("x-nonce", hex.EncodeToString(nonce))
	resp, err := http.DefaultClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	var a struct {
		Code string `json:"resultCode"`
	}
	g.Expect(json.Unmarshal(raw, &a)).To(Succeed(), string(raw))
	return a.Code
}

func kitBody(instanceID, tenantID, rest string) string {
	return fmt.Sprintf(`{"instanceId":%q,"tenantId":%q,%s,"testFlag":0,"timeStamp":"20220413093539534"}`, instanceID, tenantID, rest)
}

func kitUsers(from, to int) string {
	users := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		users = append(users, fmt.Sprintf(`{"userName":"user%05d","name":"User %d","orgCode":"d%d","role":"user","enable":"true","email":"user%d@example.com"}`, i, i, i%20, i))
	}
	return "[" + strings.Join(users, ",") + "]"
}

func kitOrgs(codes ...string) string {
	orgs := make([]string, 0, len(codes))
	for _, c := range codes {
		orgs = append(orgs, fmt.Sprintf(`{"orgCode":%q,"orgName":"Dept %s","parentCode":"root"}`, c, c))
	}
	return "[" + strings.Join(orgs, ",") + "]"
}

// eventuallyDirectory waits until check passes on the stored directory.
func eventuallyDirectory(t *testing.T, instanceID, tenantID string, check func(g Gomega, d *saasv1alpha1.SaaSDirectory)) *saasv1alpha1.SaaSDirectory {
	t.Helper()
	d := &saasv1alpha1.SaaSDirectory{}
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Name: webhook.DirectoryName(instanceID, tenantID)}, d)).To(Succeed())
		check(g, d)
	}, 90*time.Second).Should(Succeed())
	return d
}

func delivered(reason string) func(Gomega, *saasv1alpha1.SaaSDirectory) {
	return func(g Gomega, d *saasv1alpha1.SaaSDirectory) {
		c := apimeta.FindStatusCondition(d.Status.Conditions, saasv1alpha1.DeliveredCondition)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal(reason), c.Message)
		g.Expect(c.ObservedGeneration).To(Equal(d.Generation))
	}
}

// readDelivered returns the users or departments delivered to namespace.
func readDelivered(t *testing.T, g Gomega, namespace string, part directory.Part) []directory.Entry {
	t.Helper()
	return readShards(t, g, namespace, client.MatchingLabels{saasv1alpha1.DirectoryPartLabel: string(part)})[part]
}

// readStored returns d's shards as stored in the directory namespace, each
// d's (see saasv1alpha1.ShardBelongsTo) and owned by nothing.
func readStored(t *testing.T, g Gomega, d *saasv1alpha1.SaaSDirectory) map[directory.Part][]directory.Entry {
	t.Helper()
	return readShards(t, g, directoryNamespace, client.MatchingLabels{saasv1alpha1.DirectoryLabel: d.Name}, d)
}

// readShards decodes the shard Secrets selected in namespace, by part. Each
// is an Opaque Secret under the object size limit, with no owner reference
// (the garbage collector must not take it), and owner's data if given.
func readShards(t *testing.T, g Gomega, namespace string, selector client.MatchingLabels, owner ...*saasv1alpha1.SaaSDirectory) map[directory.Part][]directory.Entry {
	t.Helper()
	list := &corev1.SecretList{}
	g.Expect(k8sClient.List(testContext(t), list, client.InNamespace(namespace), selector)).To(Succeed())
	parts := map[directory.Part][]directory.Entry{}
	for _, s := range list.Items {
		part := directory.Part(s.Labels[saasv1alpha1.DirectoryPartLabel])
		if part == "" {
			continue // kooper-directory (tenant.json) or kooper-sso
		}
		g.Expect(s.Type).To(Equal(corev1.SecretTypeOpaque), "shard %s", s.Name)
		g.Expect(s.OwnerReferences).To(BeEmpty(), "shard %s has no owner the garbage collector could follow", s.Name)
		for _, o := range owner {
			g.Expect(saasv1alpha1.ShardBelongsTo(&s, o)).To(BeTrue(), "shard %s is its directory's", s.Name)
		}
		for _, data := range s.Data {
			g.Expect(len(data)).To(BeNumerically("<=", 512<<10), "Secret %s stays well under the object size limit", s.Name)
			e, err := directory.Decode(part, string(data))
			g.Expect(err).NotTo(HaveOccurred())
			parts[part] = append(parts[part], e...)
		}
	}
	return parts
}

// noDirectoryConfigMaps expects no ConfigMap labelled as a directory's in
// any namespace: users' personal data is never in one.
func noDirectoryConfigMaps(t *testing.T, g Gomega) {
	t.Helper()
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMapList"))
	g.Expect(k8sClient.List(testContext(t), list, client.HasLabels{saasv1alpha1.DirectoryLabel})).To(Succeed())
	names := make([]string, 0, len(list.Items))
	for _, item := range list.Items {
		names = append(names, item.Namespace+"/"+item.Name)
	}
	g.Expect(names).To(BeEmpty(), "ConfigMaps labelled %s", saasv1alpha1.DirectoryLabel)
}

func keysOf(entries []directory.Entry) []string {
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.Key)
	}
	return out
}

func TestDirectorySyncedBeforeTheInstanceExistsIsDeliveredOnceItDoes(t *testing.T) {
	g := NewWithT(t)
	product := kitProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Workload.Directory = &saasv1alpha1.DirectoryMount{MountPath: "/etc/kooper"}
	})
	key, err := directoryRSAKey()
	g.Expect(err).NotTo(HaveOccurred())
	instanceID, tenantID := fmt.Sprintf("i-dir%d", tenantSeq.Add(1)), "tenant-early"
	secret, err := koogallery.EncryptClientSecret(&key.PublicKey, "the-client-secret", koogallery.OAEPSHA256MGF1SHA1)
	g.Expect(err).NotTo(HaveOccurred())

	calls := []struct {
		name koogallery.KitInterface
		rest string
	}{
		{koogallery.KitTenantSync, `"orderId":"","tenantCode":"acme","name":"ACME","domainName":"https://acme.tenantaccount.com/","flag":1`},
		{koogallery.KitApplicationSync, `"appId":"app-1","clientId":"client-1","clientSecret":"` + secret + `","flag":1`},
		{koogallery.KitAllOrgSync, `"orgInfoList":` + strconv.Quote(kitOrgs("root", "sales"))},
		{koogallery.KitAuthSync, `"appId":"app-1","userList":` + kitUsers(0, 3) + `,"currentSyncTime":"1","flag":1`},
	}
	for _, c := range calls {
		g.Expect(kitCall(t, product.Name, c.name, kitBody(instanceID, tenantID, c.rest))).To(Equal("000000"), string(c.name))
	}
	eventuallyDirectory(t, instanceID, tenantID, func(g Gomega, d *saasv1alpha1.SaaSDirectory) {
		delivered(saasv1alpha1.WaitingForInstanceReason)(g, d)
		g.Expect(d.Status.Users).To(Equal(int32(3)))
		g.Expect(d.Status.Departments).To(Equal(int32(2)))
		g.Expect(d.Status.LastSyncTime).NotTo(BeNil())
	})

	tenant := newTenant(t, product, "basic", func(tenant *saasv1alpha1.SaaSTenant) {
		tenant.Name, tenant.Spec.InstanceID = instanceID, instanceID
	})
	namespace := eventuallyTenant(t, tenant.Name, provisioned).Status.Namespace
	d := eventuallyDirectory(t, instanceID, tenantID, delivered(saasv1alpha1.SucceededReason))
	g.Expect(d.Status.Namespace).To(Equal(namespace))

	sso := getObject(t, &corev1.Secret{}, namespace, saasv1alpha1.SSOSecretName)
	g.Expect(sso.Data).To(And(
		HaveKeyWithValue("clientId", []byte("client-1")),
		HaveKeyWithValue("clientSecret", []byte("the-client-secret")),
		HaveKeyWithValue("tenantId", []byte(tenantID)),
		HaveKeyWithValue("tenantCode", []byte("acme")),
		HaveKeyWithValue("domainName", []byte("https://acme.tenantaccount.com/")),
		HaveKeyWithValue("tokenUrl", []byte("https://acme.tenantaccount.com/api/v1/oauth2/token")),
		HaveKeyWithValue("userinfoUrl", []byte("https://acme.tenantaccount.com/api/v1/oauth2/userinfo")),
		HaveKeyWithValue("authorizeUrl", []byte("https://acme.tenantaccount.com/api/v1/oauth2/authorize")),
		HaveKeyWithValue("logoutUrl", []byte("https://acme.tenantaccount.com/api/v1/logout")),
		HaveKeyWithValue("loginUrl", []byte("https://macroverse.huaweicloud.com/unified-login/#/portal-login?ind=UNOP&appId=app-1"))))
	index := getObject(t, &corev1.Secret{}, namespace, saasv1alpha1.DirectorySecretName)
	g.Expect(index.Type).To(Equal(corev1.SecretTypeOpaque))
	g.Expect(string(index.Data["tenant.json"])).To(And(ContainSubstring(`"tenantCode": "acme"`), ContainSubstring(`"users": 3`),
		ContainSubstring(`"kooper-directory-users-000"`)))
	g.Expect(keysOf(readDelivered(t, g, namespace, directory.Departments))).To(ConsistOf("root", "sales"))
	g.Expect(keysOf(readDelivered(t, g, namespace, directory.Users))).To(ConsistOf("app-1/user00000", "app-1/user00001", "app-1/user00002"))

	// Users carry personal data: stored and delivered in Secrets, with the
	// same entries, and never in a ConfigMap (which the view role reads).
	stored := readStored(t, g, d)
	g.Expect(keysOf(stored[directory.Users])).To(ConsistOf("app-1/user00000", "app-1/user00001", "app-1/user00002"))
	g.Expect(keysOf(stored[directory.Departments])).To(ConsistOf("root", "sales"))
	g.Expect(readDelivered(t, g, namespace, directory.Users)).To(Equal(stored[directory.Users]))
	noDirectoryConfigMaps(t, g)

	// The tenant's status shows what its app gets.
	g.Eventually(func(g Gomega) {
		summary := readTenant(t, g, tenant.Name).Status.Directory
		g.Expect(summary).NotTo(BeNil())
		g.Expect(summary.Name).To(Equal(d.Name))
		g.Expect(summary.TenantID).To(Equal(tenantID))
		g.Expect(summary.Users).To(BeEquivalentTo(3))
		g.Expect(summary.Departments).To(BeEquivalentTo(2))
		g.Expect(summary.LastSyncTime).NotTo(BeNil())
	}).Should(Succeed())

	// The workload mounts them, read-only.
	deployment := getObject(t, &appsv1.Deployment{}, namespace, tenantobjects.AppName)
	g.Expect(deployment.Spec.Template.Spec.Containers[0].VolumeMounts).To(ContainElements(
		corev1.VolumeMount{Name: tenantobjects.SSOVolumeName, MountPath: "/etc/kooper/sso", ReadOnly: true},
		corev1.VolumeMount{Name: tenantobjects.DirectoryVolumeName, MountPath: "/etc/kooper/directory", ReadOnly: true}))
	// The directory volume projects optional Secrets only, under the names delivered.
	var sources []corev1.VolumeProjection
	for _, v := range deployment.Spec.Template.Spec.Volumes {
		if v.Name == tenantobjects.DirectoryVolumeName {
			g.Expect(v.Projected).NotTo(BeNil())
			sources = v.Projected.Sources
		}
	}
	g.Expect(sources).To(HaveLen(1 + tenantobjects.MountedUserShards + tenantobjects.MountedDepartmentShards))
	g.Expect(sources).To(HaveEach(And(HaveField("ConfigMap", BeNil()), HaveField("Secret.Optional", HaveValue(BeTrue())))))
	g.Expect(sources).To(ContainElements(HaveField("Secret.Name", saasv1alpha1.DirectorySecretName),
		HaveField("Secret.Name", "kooper-directory-users-000"), HaveField("Secret.Name", "kooper-directory-departments-000")))

	// Every change was announced.
	g.Eventually(func(g Gomega) {
		events := &eventsv1.EventList{}
		g.Expect(k8sClient.List(testContext(t), events)).To(Succeed())
		var reasons []string
		for _, e := range events.Items {
			if e.Regarding.Name == d.Name {
				reasons = append(reasons, e.Reason)
			}
		}
		g.Expect(reasons).To(ContainElement(saasv1alpha1.DirectorySyncedReason))
	}).Should(Succeed())
}

func TestDirectoryOf20000UsersIn40BatchesIsReadBack(t *testing.T) {
	g := NewWithT(t)
	product := kitProduct(t, nil)
	tenant := newTenant(t, product, "basic", nil)
	namespace := eventuallyTenant(t, tenant.Name, provisioned).Status.Namespace
	tenantID := "tenant-large"
	for batch := range 40 {
		body := kitBody(tenant.Name, tenantID, `"appId":"app-1","userList":`+kitUsers(batch*500, (batch+1)*500)+`,"currentSyncTime":"1","flag":1`)
		g.Expect(kitCall(t, product.Name, koogallery.KitAuthSync, body)).To(Equal("000000"), "batch %d", batch)
	}
	eventuallyDirectory(t, tenant.Name, tenantID, func(g Gomega, d *saasv1alpha1.SaaSDirectory) {
		delivered(saasv1alpha1.SucceededReason)(g, d)
		g.Expect(d.Status.Users).To(Equal(int32(20000)))
	})
	g.Eventually(func(g Gomega) {
		users := readDelivered(t, g, namespace, directory.Users)
		g.Expect(users).To(HaveLen(20000))
		seen := map[string]bool{}
		for _, u := range users {
			seen[u.Key] = true
		}
		g.Expect(seen).To(HaveLen(20000))
		g.Expect(seen).To(HaveKey("app-1/user19999"))
	}).Should(Succeed())

	// Ten more users rewrite only the last shard: the first is not sent again.
	first := getObject(t, &corev1.Secret{}, namespace, "kooper-directory-users-000").ResourceVersion
	body := kitBody(tenant.Name, tenantID, `"appId":"app-1","userList":`+kitUsers(20000, 20010)+`,"currentSyncTime":"1","flag":1`)
	g.Expect(kitCall(t, product.Name, koogallery.KitAuthSync, body)).To(Equal("000000"))
	eventuallyDirectory(t, tenant.Name, tenantID, func(g Gomega, d *saasv1alpha1.SaaSDirectory) {
		delivered(saasv1alpha1.SucceededReason)(g, d)
		g.Expect(d.Status.Users).To(Equal(int32(20010)))
	})
	g.Eventually(func(g Gomega) {
		g.Expect(readDelivered(t, g, namespace, directory.Users)).To(HaveLen(20010))
		g.Expect(readTenant(t, g, tenant.Name).Status.Directory).To(HaveField("Users", BeEquivalentTo(20010)))
	}).Should(Succeed())
	g.Expect(getObject(t, &corev1.Secret{}, namespace, "kooper-directory-users-000").ResourceVersion).To(Equal(first))
}

func TestDirectoryDepartmentTreeIsReplacedWhole(t *testing.T) {
	g := NewWithT(t)
	product := kitProduct(t, nil)
	tenant := newTenant(t, product, "basic", nil)
	namespace := eventuallyTenant(t, tenant.Name, provisioned).Status.Namespace
	tenantID := "tenant-tree"
	g.Expect(kitCall(t, product.Name, koogallery.KitAllOrgSync, kitBody(tenant.Name, tenantID, `"orgInfoList":`+kitOrgs("root", "a", "b", "c")))).To(Equal("000000"))
	g.Eventually(func(g Gomega) {
		g.Expect(keysOf(readDelivered(t, g, namespace, directory.Departments))).To(ConsistOf("root", "a", "b", "c"))
	}).Should(Succeed())
	g.Expect(kitCall(t, product.Name, koogallery.KitAllOrgSync, kitBody(tenant.Name, tenantID, `"orgInfoList":`+strconv.Quote(kitOrgs("root", "x"))))).To(Equal("000000"))
	eventuallyDirectory(t, tenant.Name, tenantID, func(g Gomega, d *saasv1alpha1.SaaSDirectory) {
		g.Expect(d.Status.Departments).To(Equal(int32(2)))
	})
	g.Eventually(func(g Gomega) {
		g.Expect(keysOf(readDelivered(t, g, namespace, directory.Departments))).To(ConsistOf("root", "x"))
	}).Should(Succeed())
}

func TestDirectoryIsWithdrawnWhenTheInstanceIsReleased(t *testing.T) {
	g := NewWithT(t)
	product := kitProduct(t, nil)
	tenant := newTenant(t, product, "basic", nil)
	namespace := eventuallyTenant(t, tenant.Name, provisioned).Status.Namespace
	tenantID := "tenant-released"
	g.Expect(kitCall(t, product.Name, koogallery.KitAllOrgSync, kitBody(tenant.Name, tenantID, `"orgInfoList":`+kitOrgs("root")))).To(Equal("000000"))
	eventuallyDirectory(t, tenant.Name, tenantID, delivered(saasv1alpha1.SucceededReason))

	updateTenant(t, tenant.Name, func(tenant *saasv1alpha1.SaaSTenant) { tenant.Spec.State = saasv1alpha1.StateReleased })
	eventuallyDirectory(t, tenant.Name, tenantID, delivered(saasv1alpha1.InstanceReleasedReason))
	g.Eventually(func(g Gomega) {
		g.Expect(readDelivered(t, g, namespace, directory.Departments)).To(BeEmpty())
		// Withdrawn: the tenant's status no longer claims a directory.
		g.Expect(readTenant(t, g, tenant.Name).Status.Directory).To(BeNil())
	}).Should(Succeed())
}

// readTenant reads a tenant once, inside an Eventually.
func readTenant(t *testing.T, g Gomega, name string) *saasv1alpha1.SaaSTenant {
	tenant := &saasv1alpha1.SaaSTenant{}
	g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Name: name}, tenant)).To(Succeed())
	return tenant
}
