package webhook

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/directory"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/testenv"
)

// TestKitPipelineAnswersEveryBadInput covers the kit route before any
// handler: method, interface, body, the x-sign headers and typed values.
func TestKitPipelineAnswersEveryBadInput(t *testing.T) {
	f := newKitFixture(t)
	instanceID, tenantID := kitIDs()
	valid := tenantSyncBody(instanceID, tenantID, 1)
	headers := func(tweak func(http.Header)) func() http.Header {
		return func() http.Header {
			h := kitHeaders(t, testKitKey, valid)
			if tweak != nil {
				tweak(h)
			}
			return h
		}
	}
	stale := strconv.FormatInt(time.Now().Add(-2*time.Minute).UnixMilli(), 10)
	replayed := kitHeaders(t, testKitKey, valid)
	oversized := `{"pad":"` + strings.Repeat("x", 1<<20) + `"}`
	reordered := `{"timeStamp":"20220413093539534","testFlag":1,"flag":1,"domainName":"https://acme.tenantaccount.com","name":"ACME","tenantCode":"acme","tenantId":"` + tenantID + `","orderId":"","instanceId":"` + instanceID + `"}`
	withNull := strings.Replace(valid, `"orderId":""`, `"orderId":null`, 1)
	duplicated := strings.Replace(valid, `"flag":1`, `"flag":1,"flag":2`, 1)
	bare := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	cases := []struct {
		name, method, product, iface, body string
		headers                            func() http.Header
		wantCode, wantMsg                  string
	}{
		{name: "GET", method: http.MethodGet, body: valid, headers: headers(nil), wantCode: "000002", wantMsg: "POST"},
		{name: "unknown interface", iface: "userSync", body: valid, headers: headers(nil), wantCode: "000002", wantMsg: `"userSync" is not supported`},
		{name: "unknown product", product: "no-such-product", body: valid, headers: headers(nil), wantCode: "000002", wantMsg: "unknown product"},
		{name: "signed with the basic key", body: valid, headers: func() http.Header { return kitHeaders(t, testKey, valid) }, wantCode: "000001", wantMsg: "signature"},
		{name: "no x-sign", body: valid, headers: headers(func(h http.Header) { h.Del("x-sign") }), wantCode: "000001", wantMsg: "signature"},
		{name: "no x-timestamp", body: valid, headers: headers(func(h http.Header) { h.Del("x-timestamp") }), wantCode: "000002", wantMsg: "timestamp"},
		{name: "no x-nonce", body: valid, headers: headers(func(h http.Header) { h.Del("x-nonce") }), wantCode: "000002", wantMsg: "nonce"},
		{name: "stale x-timestamp", body: valid, headers: headers(func(h http.Header) { h.Set("x-timestamp", stale) }), wantCode: "000002", wantMsg: "timestamp"},
		{name: "body changed after signing", body: strings.Replace(valid, `"flag":1`, `"flag":2`, 1), headers: headers(nil), wantCode: "000001", wantMsg: "signature"},
		{name: "integer sent as a string, signed as such", body: strings.Replace(valid, `"flag":1`, `"flag":"1"`, 1),
			headers: func() http.Header {
				return kitHeaders(t, testKitKey, strings.Replace(valid, `"flag":1`, `"flag":"1"`, 1))
			}, wantCode: "000002", wantMsg: "flag must be an integer"},
		{name: "missing tenantId", body: strings.Replace(valid, `"tenantId":"`+tenantID+`",`, ``, 1),
			headers: func() http.Header {
				return kitHeaders(t, testKitKey, strings.Replace(valid, `"tenantId":"`+tenantID+`",`, ``, 1))
			}, wantCode: "000002", wantMsg: "tenantId is required"},
		{name: "oversized body", body: oversized, headers: func() http.Header { return kitHeaders(t, testKitKey, `{}`) }, wantCode: "000002", wantMsg: "exceeds"},
		{name: "keys in another order", body: reordered, headers: func() http.Header { return kitHeaders(t, testKitKey, reordered) }, wantCode: "000000"},
		{name: "a null-valued field", body: withNull, headers: func() http.Header { return kitHeaders(t, testKitKey, withNull) }, wantCode: "000000"},
		{name: "a duplicate key", body: duplicated, headers: func() http.Header { return kitHeaders(t, testKitKey, `{}`) }, wantCode: "000002", wantMsg: "duplicate top-level key"},
		{name: "kit key missing from the product", product: bare.product.Name, body: valid, headers: headers(nil), wantCode: "000005", wantMsg: "kit key is not configured"},
		{name: "replayed x-nonce, first use", body: valid, headers: func() http.Header { return replayed.Clone() }, wantCode: "000000"},
		{name: "replayed x-nonce, second use", body: valid, headers: func() http.Header { return replayed.Clone() }, wantCode: "000002", wantMsg: "already used"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			method, product, iface := tt.method, tt.product, tt.iface
			if method == "" {
				method = http.MethodPost
			}
			if product == "" {
				product = f.product.Name
			}
			if iface == "" {
				iface = string(koogallery.KitTenantSync)
			}
			a := postKit(t, method, product, iface, tt.headers(), tt.body)
			g.Expect(a.status).To(Equal(http.StatusOK))
			g.Expect(a.Code).To(Equal(tt.wantCode), a.Msg)
			g.Expect(a.Msg).To(ContainSubstring(tt.wantMsg))
			g.Expect(a.header.Get(koogallery.BodySignHeader)).To(BeEmpty())
		})
	}
}

func TestKitKeepsSyncsForAnInstanceThatDoesNotExist(t *testing.T) {
	g := NewWithT(t)
	f := newKitFixture(t)
	instanceID, tenantID := kitIDs()
	a := f.kit(t, koogallery.KitTenantSync, tenantSyncBody(instanceID, tenantID, 1))
	g.Expect(a.Code).To(Equal("000000"), a.Msg)
	d, _ := storedDirectory(t, instanceID, tenantID)
	g.Expect(d.Spec).To(And(
		HaveField("InstanceID", instanceID), HaveField("TenantID", tenantID), HaveField("ProductName", f.product.Name),
		HaveField("TenantCode", "acme"), HaveField("DomainName", "https://acme.tenantaccount.com"),
		HaveField("State", saasv1alpha1.DirectoryActive), HaveField("Mode", saasv1alpha1.ModeDebug)))
	g.Expect(d.Spec.LastSync.Interface).To(Equal(saasv1alpha1.KitTenantSync))

	// A repeated add changes nothing; a delete, twice, succeeds twice.
	generation := d.Generation
	g.Expect(f.kit(t, koogallery.KitTenantSync, tenantSyncBody(instanceID, tenantID, 1)).Code).To(Equal("000000"))
	d, _ = storedDirectory(t, instanceID, tenantID)
	g.Expect(d.Generation).To(Equal(generation))
	for range 2 {
		a := f.kit(t, koogallery.KitTenantSync, tenantSyncBody(instanceID, tenantID, 0))
		g.Expect(a.Code).To(Equal("000000"), a.Msg)
	}
	d, _ = storedDirectory(t, instanceID, tenantID)
	g.Expect(d.Spec.State).To(Equal(saasv1alpha1.DirectoryDeleted))
	g.Expect(d.Finalizers).To(ConsistOf(saasv1alpha1.DirectoryFinalizer), "created with the finalizer that deletes its shards")

	// A delete of an enterprise never synced is answered and creates nothing.
	other, _ := kitIDs()
	a = f.kit(t, koogallery.KitTenantSync, tenantSyncBody(other, tenantID, 0))
	g.Expect(a.Code).To(Equal("000000"), a.Msg)
	err := k8sClient.Get(ctxFor(t), client.ObjectKey{Name: DirectoryName(other, tenantID)}, &saasv1alpha1.SaaSDirectory{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "got %v", err)
}

// A removal (a delete, a cancelled authorisation) for an enterprise kooper
// does not have is what was asked already: answered 000000, it creates no
// directory that would hold nothing (spec §1.8: a delete of something
// absent succeeds).
func TestKitRemovalsFromAnAbsentDirectoryStoreNothing(t *testing.T) {
	f := newKitFixture(t)
	for _, tc := range []struct {
		name string
		kit  koogallery.KitInterface
		body func(instanceID, tenantID string) string
	}{
		{"tenantSync delete", koogallery.KitTenantSync, func(i, t string) string { return tenantSyncBody(i, t, 0) }},
		{"applicationSync delete", koogallery.KitApplicationSync, func(i, t string) string { return applicationSyncBody(i, t, "unused", 0) }},
		{"authSync delete", koogallery.KitAuthSync, func(i, t string) string { return authSyncBody(i, t, 0, 3, 0) }},
		{"authSync cancel authorisation", koogallery.KitAuthSync, func(i, t string) string { return authSyncBody(i, t, 0, 3, 3) }},
		{"singleOrgSync delete", koogallery.KitSingleOrgSync, func(i, t string) string {
			return fmt.Sprintf(`{"instanceId":%q,"tenantId":%q,"orgCode":"x","orgName":"X","parentCode":"","flag":0,"testFlag":0,"timeStamp":"20220413093539534"}`, i, t)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			instanceID, tenantID := kitIDs()
			a := f.kit(t, tc.kit, tc.body(instanceID, tenantID))
			g.Expect(a.Code).To(Equal("000000"), a.Msg)
			err := k8sClient.Get(ctxFor(t), client.ObjectKey{Name: DirectoryName(instanceID, tenantID)}, &saasv1alpha1.SaaSDirectory{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "no directory is created: %v", err)
		})
	}
}

func TestKitApplicationSyncDecryptsClientSecret(t *testing.T) {
	f := newKitFixture(t)
	key, err := merchantKey()
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	for _, variant := range koogallery.DefaultOAEPHashes {
		t.Run(string(variant), func(t *testing.T) {
			g := NewWithT(t)
			instanceID, tenantID := kitIDs()
			ciphertext, err := koogallery.EncryptClientSecret(&key.PublicKey, "the-client-secret", variant)
			g.Expect(err).NotTo(HaveOccurred())
			a := f.kit(t, koogallery.KitApplicationSync, applicationSyncBody(instanceID, tenantID, ciphertext, 1))
			g.Expect(a.Code).To(Equal("000000"), a.Msg)
			d, _ := storedDirectory(t, instanceID, tenantID)
			g.Expect(d.Spec.Applications).To(ConsistOf(saasv1alpha1.DirectoryApplication{
				AppID: "app-1", ClientID: "client-1", EncryptedClientSecret: ciphertext, OAEPHash: string(variant)}))
			for range 2 {
				g.Expect(f.kit(t, koogallery.KitApplicationSync, applicationSyncBody(instanceID, tenantID, "", 0)).Code).To(Equal("000000"))
			}
			d, _ = storedDirectory(t, instanceID, tenantID)
			g.Expect(d.Spec.Applications).To(BeEmpty())
		})
	}
}

// TestKitApplicationSyncAnswersClientSecretErrorCode: a clientSecret that
// does not decrypt (say, the rsaPrivateKey in the Secret is not yet the one
// whose public key was uploaded) is answered 000005 by default, an internal
// error the buyer can sync again after once the key is fixed; 000101, the
// sample's code, which the docs define as "mobile number empty or already
// used" (spec §8 item 17), only when configured.
func TestKitApplicationSyncAnswersClientSecretErrorCode(t *testing.T) {
	f := newKitFixture(t)
	other, err := koogallery.GenerateRSAKey(koogallery.MinRSABits)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	forOther, err := koogallery.EncryptClientSecret(&other.PublicKey, "x", koogallery.OAEPSHA256)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	for name, secret := range map[string]string{"another key": forOther, "not Base64": "%%%", "plaintext": "c2VjcmV0"} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			instanceID, tenantID := kitIDs()
			a := f.kit(t, koogallery.KitApplicationSync, applicationSyncBody(instanceID, tenantID, secret, 1))
			g.Expect(a.Code).To(Equal("000005"), "the default")
			g.Expect(a.Msg).To(ContainSubstring("clientSecret cannot be decrypted"))
		})
	}

	opts := receiver.opts
	opts.ClientSecretErrorCode = koogallery.ResultAppSecretError
	r, err := NewReceiver(receiver.client, receiver.reader, opts)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	server := httptest.NewServer(r.Handler())
	t.Cleanup(server.Close)
	t.Run("configured 000101", func(t *testing.T) {
		g := NewWithT(t)
		instanceID, tenantID := kitIDs()
		body := applicationSyncBody(instanceID, tenantID, forOther, 1)
		a := postKitTo(t, server.URL, http.MethodPost, f.product.Name, string(koogallery.KitApplicationSync), kitHeaders(t, testKitKey, body), body)
		g.Expect(a.Code).To(Equal("000101"))
		g.Expect(a.Msg).To(ContainSubstring("clientSecret cannot be decrypted"))
	})

	for _, code := range []koogallery.ResultCode{"", koogallery.ResultSuccess, koogallery.ResultInvalidParam} {
		opts.ClientSecretErrorCode = code
		_, err := NewReceiver(receiver.client, receiver.reader, opts)
		NewWithT(t).Expect(err).To(MatchError(ContainSubstring("clientSecret error code must be 000005 or 000101")), "code %q", code)
	}
}

func TestKitAuthSyncStoresUsersInBatchesAndRemovesThem(t *testing.T) {
	g := NewWithT(t)
	f := newKitFixture(t)
	instanceID, tenantID := kitIDs()
	for batch := range 4 {
		a := f.kit(t, koogallery.KitAuthSync, authSyncBody(instanceID, tenantID, batch*500, (batch+1)*500, 1))
		g.Expect(a.Code).To(Equal("000000"), a.Msg)
	}
	_, parts := storedDirectory(t, instanceID, tenantID)
	g.Expect(parts[directory.Users]).To(HaveLen(2000))
	g.Expect(string(parts[directory.Users][0].JSON)).To(HavePrefix(`{"appId":"app-1","userName":"user`))

	// Modify keeps the count; delete and cancel-authorisation remove, and
	// repeating them succeeds.
	g.Expect(f.kit(t, koogallery.KitAuthSync, authSyncBody(instanceID, tenantID, 0, 10, 2)).Code).To(Equal("000000"))
	for range 2 {
		g.Expect(f.kit(t, koogallery.KitAuthSync, authSyncBody(instanceID, tenantID, 0, 100, 0)).Code).To(Equal("000000"))
		g.Expect(f.kit(t, koogallery.KitAuthSync, authSyncBody(instanceID, tenantID, 100, 150, 3)).Code).To(Equal("000000"))
	}
	d, parts := storedDirectory(t, instanceID, tenantID)
	g.Expect(parts[directory.Users]).To(HaveLen(1850))
	g.Expect(d.Spec.LastSync).To(HaveField("Flag", int32(3)))
}

func TestKitDepartmentSyncs(t *testing.T) {
	g := NewWithT(t)
	f := newKitFixture(t)
	instanceID, tenantID := kitIDs()
	codes := func(entries []directory.Entry) []string {
		var out []string
		for _, e := range entries {
			out = append(out, e.Key)
		}
		return out
	}
	g.Expect(f.kit(t, koogallery.KitAllOrgSync, allOrgSyncBody(instanceID, tenantID, orgsJSON("hq", "a", "b"))).Code).To(Equal("000000"))
	_, parts := storedDirectory(t, instanceID, tenantID)
	g.Expect(codes(parts[directory.Departments])).To(ConsistOf("hq", "a", "b"))

	// The list as a JSON string replaces the whole tree.
	asString := strconv.Quote(orgsJSON("root", "x"))
	a := f.kit(t, koogallery.KitAllOrgSync, allOrgSyncBody(instanceID, tenantID, asString))
	g.Expect(a.Code).To(Equal("000000"), a.Msg)
	_, parts = storedDirectory(t, instanceID, tenantID)
	g.Expect(codes(parts[directory.Departments])).To(ConsistOf("root", "x"))

	single := func(code string, flag int) string {
		return `{"instanceId":"` + instanceID + `","tenantId":"` + tenantID + `","orgCode":"` + code + `","orgName":"N","parentCode":"root","flag":` + strconv.Itoa(flag) + `,"testFlag":0,"timeStamp":"1"}`
	}
	g.Expect(f.kit(t, koogallery.KitSingleOrgSync, single("y", 1)).Code).To(Equal("000000"))
	for range 2 {
		g.Expect(f.kit(t, koogallery.KitSingleOrgSync, single("x", 0)).Code).To(Equal("000000"))
	}
	_, parts = storedDirectory(t, instanceID, tenantID)
	g.Expect(codes(parts[directory.Departments])).To(ConsistOf("root", "y"))
}

// TestKitSyncOfAPartStillInConfigMapsAnswers000005 covers the upgrade from
// ConfigMap shards: while a part of a directory still has a ConfigMap shard,
// in the directory namespace or in kooper's (where shards were kept before
// the directory namespace), a sync that changes that part is answered
// 000005 and stores nothing, since it would start from part of the
// directory; syncs of the other part, or of the enterprise, go through.
// Once the ConfigMap is gone (the directory controller moved it), the
// retried sync succeeds. The directory is one an earlier version created:
// without the shards-format mark, which tells the receiver to look.
func TestKitSyncOfAPartStillInConfigMapsAnswers000005(t *testing.T) {
	f := newKitFixture(t)
	users := func(instanceID, tenantID string) string { return authSyncBody(instanceID, tenantID, 0, 3, 1) }
	departments := func(instanceID, tenantID string) string {
		return allOrgSyncBody(instanceID, tenantID, orgsJSON("hq", "a"))
	}
	department := func(instanceID, tenantID string) string {
		return `{"instanceId":"` + instanceID + `","tenantId":"` + tenantID + `","orgCode":"a","orgName":"A","parentCode":"hq","flag":1,"testFlag":0,"timeStamp":"1"}`
	}
	enterprise := func(instanceID, tenantID string) string { return tenantSyncBody(instanceID, tenantID, 1) }
	cases := []struct {
		name      string
		namespace string         // of the ConfigMap shard left from before
		part      directory.Part // its part
		call      koogallery.KitInterface
		body      func(instanceID, tenantID string) string
		changes   directory.Part // the part the call writes; "" for none
		want      string
	}{
		{"users in the directory namespace, authSync", directoryNamespace, directory.Users, koogallery.KitAuthSync, users, directory.Users, "000005"},
		{"users in kooper's namespace, authSync", operatorNamespace, directory.Users, koogallery.KitAuthSync, users, directory.Users, "000005"},
		{"departments in the directory namespace, allOrgSync", directoryNamespace, directory.Departments, koogallery.KitAllOrgSync, departments, directory.Departments, "000005"},
		{"departments in kooper's namespace, singleOrgSync", operatorNamespace, directory.Departments, koogallery.KitSingleOrgSync, department, directory.Departments, "000005"},
		{"users in the directory namespace, allOrgSync", directoryNamespace, directory.Users, koogallery.KitAllOrgSync, departments, directory.Departments, "000000"},
		{"departments in kooper's namespace, authSync", operatorNamespace, directory.Departments, koogallery.KitAuthSync, users, directory.Users, "000000"},
		{"users in the directory namespace, tenantSync", directoryNamespace, directory.Users, koogallery.KitTenantSync, enterprise, "", "000000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			instanceID, tenantID := kitIDs()
			name := earlierVersionDirectory(t, f, instanceID, tenantID).Name
			legacy := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
				Namespace: tc.namespace, Name: ShardName(name, tc.part, 0),
				Labels: map[string]string{saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue,
					saasv1alpha1.DirectoryLabel: name, saasv1alpha1.DirectoryPartLabel: string(tc.part)},
			}, Data: map[string]string{directory.DataKey(tc.part, 0): "[]"}}
			g.Expect(k8sClient.Create(ctxFor(t), legacy)).To(Succeed())

			a := f.kit(t, tc.call, tc.body(instanceID, tenantID))
			g.Expect(a.Code).To(Equal(tc.want), a.Msg)
			if tc.want == "000005" {
				g.Expect(a.Msg).To(Equal("the directory is being moved from ConfigMaps to Secrets; retry"))
				g.Expect(shardSecrets(t, name, tc.changes)).To(BeZero(), "nothing is stored")
				g.Expect(legacyShardLists(name)).To(BeNumerically(">", 0), "the request log sees the receiver's look")
			} else if tc.changes != "" {
				g.Expect(shardSecrets(t, name, tc.changes)).To(Equal(1))
			}

			g.Expect(k8sClient.Delete(ctxFor(t), legacy)).To(Succeed())
			a = f.kit(t, tc.call, tc.body(instanceID, tenantID))
			g.Expect(a.Code).To(Equal("000000"), a.Msg)
			if tc.changes != "" {
				g.Expect(shardSecrets(t, name, tc.changes)).To(Equal(1))
			}
		})
	}
}

// A directory the receiver creates is marked as storing its shards in
// Secrets (it never had a ConfigMap shard), and no sync of it lists
// ConfigMaps to look for shards of an earlier version: that LIST would cost
// one API request per sync of users or departments, for ever.
func TestKitNewDirectoryIsMarkedAndItsSyncsListNoConfigMaps(t *testing.T) {
	g := NewWithT(t)
	f := newKitFixture(t)
	instanceID, tenantID := kitIDs()
	department := `{"instanceId":"` + instanceID + `","tenantId":"` + tenantID + `","orgCode":"b","orgName":"B","parentCode":"hq","flag":1,"testFlag":0,"timeStamp":"1"}`
	for _, call := range []struct {
		name koogallery.KitInterface
		body string
	}{
		{koogallery.KitAuthSync, authSyncBody(instanceID, tenantID, 0, 3, 1)},
		{koogallery.KitAllOrgSync, allOrgSyncBody(instanceID, tenantID, orgsJSON("hq", "a"))},
		{koogallery.KitSingleOrgSync, department},
		{koogallery.KitAuthSync, authSyncBody(instanceID, tenantID, 0, 1, 0)},
	} {
		a := f.kit(t, call.name, call.body)
		g.Expect(a.Code).To(Equal("000000"), "%s: %s", call.name, a.Msg)
	}

	d, parts := storedDirectory(t, instanceID, tenantID)
	g.Expect(d.Annotations).To(HaveKeyWithValue(saasv1alpha1.ShardsFormatAnnotation, saasv1alpha1.ShardsFormatSecrets))
	g.Expect(parts[directory.Users]).To(HaveLen(2))
	g.Expect(parts[directory.Departments]).To(HaveLen(3))
	g.Expect(legacyShardLists(d.Name)).To(BeZero(), "ConfigMap LISTs for the directory's shards")
}

// earlierVersionDirectory creates the SaaSDirectory of (instanceID,
// tenantID) as a version before the shards-format mark did: unmarked.
func earlierVersionDirectory(t *testing.T, f *fixture, instanceID, tenantID string) *saasv1alpha1.SaaSDirectory {
	t.Helper()
	d := newDirectory(DirectoryName(instanceID, tenantID), f.product.Name,
		koogallery.KitCommon{InstanceID: instanceID, TenantID: tenantID})
	delete(d.Annotations, saasv1alpha1.ShardsFormatAnnotation)
	NewWithT(t).Expect(k8sClient.Create(ctxFor(t), d)).To(Succeed())
	return d
}

// legacyShardLists counts the LISTs of a directory's ConfigMap shards that
// the receiver sent, in the directory namespace and kooper's.
func legacyShardLists(name string) int {
	return receiverRequests.Count(testenv.ConfigMapShardListsOf(name, directoryNamespace, operatorNamespace))
}

// shardSecrets counts the shard Secrets of a directory's part.
func shardSecrets(t *testing.T, name string, part directory.Part) int {
	t.Helper()
	list := &corev1.SecretList{}
	NewWithT(t).Expect(k8sClient.List(ctxFor(t), list, client.InNamespace(directoryNamespace),
		client.MatchingLabels{saasv1alpha1.DirectoryLabel: name, saasv1alpha1.DirectoryPartLabel: string(part)})).To(Succeed())
	return len(list.Items)
}
