package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/leakcheck"
	"github.com/kooper-io/kooper/internal/localstack"
	"github.com/kooper-io/kooper/webhook"
)

// Personal values of the kit sync below (spec §3.11.3): a userName that is
// a mobile number and one that is an e-mail address, names, a mobile.
var e2ePersonalValues = []string{"13812345678", "韩梅梅", "+86 139 8765 4321", "li.lei@example.cn", "李雷"}

const e2ePIITenant = "e2e-pii"

// testNoPersonalData syncs an enterprise with two users into the surviving
// tenant's instance, signed with the stack's kit key, and sends one
// malformed authSync holding the same values; once the directory is
// delivered with both users, it greps both processes' logs (the chart runs
// them at logLevel 10 here), every Event and every kooper object's status
// for each value, as is and escaped (docs/personal-data.md).
func testNoPersonalData(t *testing.T, e *env) {
	g := NewWithT(t)
	users := `[{"userName":"13812345678","name":"韩梅梅","orgCode":"d-1","role":"admin","enable":"true","mobile":"+86 139 8765 4321"},` +
		`{"userName":"li.lei@example.cn","name":"李雷","orgCode":"d-1","role":"user","enable":"true","email":"li.lei@example.cn"}]`
	tooLong := `[{"userName":"` + strings.Repeat("li.lei@example.cn", 4) + `","name":"李雷","mobile":"13812345678"}]`
	records := map[string]string{}
	for i, c := range []struct {
		name       koogallery.KitInterface
		rest, want string
	}{
		{koogallery.KitTenantSync, `"orderId":"","tenantCode":"hmm","name":"韩梅梅的小店","domainName":"https://hmm.tenantaccount.example.com","flag":1`, "000000"},
		{koogallery.KitAllOrgSync, `"orgInfoList":[{"orgCode":"d-1","orgName":"李雷的部门"}]`, "000000"},
		{koogallery.KitAuthSync, `"appId":"e2e-app","userList":` + users + `,"currentSyncTime":"1","flag":1`, "000000"},
		{koogallery.KitAuthSync, `"appId":"e2e-app","userList":` + tooLong + `,"currentSyncTime":"1","flag":1`, "000002"},
	} {
		body := `{"instanceId":"` + e.survivor + `","tenantId":"` + e2ePIITenant + `",` + c.rest + `,"testFlag":0,"timeStamp":"20250101120000000"}`
		code, msg := sendKit(g, e, c.name, body)
		g.Expect(code).To(Equal(c.want), "%s: %s", c.name, msg)
		records["answer "+strconv.Itoa(i)+" ("+string(c.name)+")"] = msg
	}

	name := webhook.DirectoryName(e.survivor, e2ePIITenant)
	g.Eventually(func(g Gomega) {
		d := &saasv1alpha1.SaaSDirectory{}
		g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Name: name}, d)).To(Succeed())
		g.Expect(apimeta.IsStatusConditionTrue(d.Status.Conditions, saasv1alpha1.DeliveredCondition)).To(BeTrue())
		g.Expect(d.Status.Users).To(BeEquivalentTo(2))
		g.Expect(d.Status.Departments).To(BeEquivalentTo(1))
		g.Expect(d.Status.ObservedSync).To(Equal(d.Spec.LastSync.Sequence))
	}).Should(Succeed())

	for _, component := range localstack.Components {
		log, err := e.stack.Log(component)
		g.Expect(err).NotTo(HaveOccurred())
		records[component+" log"] = log
	}
	g.Expect(records[localstack.Receiver+" log"]).To(ContainSubstring("authSync"), "the receiver logs a line per callback")
	core, modern := &corev1.EventList{}, &eventsv1.EventList{}
	g.Expect(e.stack.Client.List(e.ctx, core)).To(Succeed())
	g.Expect(e.stack.Client.List(e.ctx, modern)).To(Succeed())
	records["Events"] = asJSON(g, core) + asJSON(g, modern)
	for kind, list := range map[string]client.ObjectList{"SaaSDirectory": &saasv1alpha1.SaaSDirectoryList{},
		"SaaSTenant": &saasv1alpha1.SaaSTenantList{}, "License": &saasv1alpha1.LicenseList{}, "SaaSProduct": &saasv1alpha1.SaaSProductList{}} {
		g.Expect(e.stack.Client.List(e.ctx, list)).To(Succeed())
		records[kind+" statuses"] = statuses(g, list)
	}
	if found := leakcheck.Find(records, e2ePersonalValues); len(found) > 0 {
		t.Fatalf("personal data leaked, %d times:\n%s", len(found), strings.Join(found, "\n"))
	}
}

// sendKit posts one kit call to the sample product, signed as the
// marketplace signs it (spec §2.2), and returns the answer's code and
// message.
func sendKit(g Gomega, e *env, name koogallery.KitInterface, body string) (string, string) {
	canonical, err := koogallery.CanonicalKitPayload([]byte(body))
	g.Expect(err).NotTo(HaveOccurred())
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, e.stack.ReceiverURL+koogallery.KitPathPrefix+string(name), strings.NewReader(body))
	g.Expect(err).NotTo(HaveOccurred())
	req.Header.Set("x-sign", koogallery.SignKit(localstack.KitKey, hex.EncodeToString(nonce), ts, canonical))
	req.Header.Set("x-timestamp", ts)
	req.Header.Set("x-nonce", hex.EncodeToString(nonce))
	resp, err := http.DefaultClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	g.Expect(err).NotTo(HaveOccurred())
	var a struct {
		Code string `json:"resultCode"`
		Msg  string `json:"resultMsg"`
	}
	g.Expect(json.Unmarshal(raw, &a)).To(Succeed(), string(raw))
	return a.Code, a.Msg
}

// statuses is the status of every object of list, as JSON.
func statuses(g Gomega, list client.ObjectList) string {
	var out strings.Builder
	switch l := list.(type) {
	case *saasv1alpha1.SaaSDirectoryList:
		for _, o := range l.Items {
			out.WriteString(asJSON(g, o.Status))
		}
	case *saasv1alpha1.SaaSTenantList:
		for _, o := range l.Items {
			out.WriteString(asJSON(g, o.Status))
		}
	case *saasv1alpha1.LicenseList:
		for _, o := range l.Items {
			out.WriteString(asJSON(g, o.Status))
		}
	case *saasv1alpha1.SaaSProductList:
		for _, o := range l.Items {
			out.WriteString(asJSON(g, o.Status))
		}
	}
	return out.String()
}

func asJSON(g Gomega, v any) string {
	data, err := json.Marshal(v)
	g.Expect(err).NotTo(HaveOccurred())
	return string(data)
}

// testDirectoryDeleted checks, on the chart's two processes and accounts,
// that the directory synced above is stored and delivered as Secrets only,
// and that a tenantSync delete takes the SaaSDirectory, its shards and its
// delivery away (docs/concepts.md, Personal data).
func testDirectoryDeleted(t *testing.T, e *env) {
	g := NewWithT(t)
	name := webhook.DirectoryName(e.survivor, e2ePIITenant)
	tenant := &saasv1alpha1.SaaSTenant{}
	g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Name: e.survivor}, tenant)).To(Succeed())
	directoryNamespace, tenantNamespace := localstack.Namespace+"-directory", tenant.Status.Namespace
	ofDirectory := client.MatchingLabels{saasv1alpha1.DirectoryLabel: name}
	count := func(g Gomega, list client.ObjectList, namespace string) int {
		g.Expect(e.stack.Client.List(e.ctx, list, ofDirectory, client.InNamespace(namespace))).To(Succeed())
		return apimeta.LenList(list)
	}
	g.Expect(count(g, &corev1.SecretList{}, directoryNamespace)).To(Equal(2), "the users and departments shards are Secrets")
	g.Expect(count(g, &corev1.SecretList{}, tenantNamespace)).To(BeNumerically(">=", 3), "kooper-sso, kooper-directory and the shards")
	g.Expect(count(g, &corev1.ConfigMapList{}, "")).To(BeZero(), "no directory data in a ConfigMap anywhere")

	body := `{"instanceId":"` + e.survivor + `","tenantId":"` + e2ePIITenant + `","flag":0,"testFlag":0,"timeStamp":"20250101120000000"}`
	code, msg := sendKit(g, e, koogallery.KitTenantSync, body)
	g.Expect(code).To(Equal("000000"), msg)
	g.Eventually(func(g Gomega) {
		err := e.stack.Client.Get(e.ctx, client.ObjectKey{Name: name}, &saasv1alpha1.SaaSDirectory{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the SaaSDirectory is deleted: %v", err)
		g.Expect(count(g, &corev1.SecretList{}, directoryNamespace)).To(BeZero(), "its shards are deleted")
		g.Expect(count(g, &corev1.SecretList{}, tenantNamespace)).To(BeZero(), "its delivery is deleted")
	}, time.Minute).Should(Succeed())
}
