package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/leakcheck"
	"github.com/kooper-io/kooper/webhook"
)

// The personal values the calls below carry: users' userName (a mobile
// number, an e-mail address), name, mobile and email (spec §3.11.3), a
// buyer's contact data (§4.1, §6.3), and names in departments and in the
// enterprise. None may reach a log line, an Event, a metric or the status
// of a kooper object, in any form.
const (
	hanPhone   = "13812345678"       // user A's userName
	hanName    = "韩梅梅"               // user A's name
	hanMobile  = "+86 139 8765 4321" // user A's mobile
	hanEmail   = "han.meimei@example.cn"
	liEmail    = "li.lei@example.cn" // user B's userName and email
	liName     = "李雷"
	liMobile   = "13700001111"
	wangPhone  = "13612345678" // user C's userName, sent as a JSON number
	wangName   = "王小明"
	wangEmail  = "wang.xiaoming@example.cn"
	zhaoEmail  = "zhao.yun@example.cn" // user D's userName
	zhaoName   = "赵云"
	zhaoMobile = "+86-135-0000-2222"
)

var personalValues = []string{hanPhone, hanName, hanMobile, hanEmail, liEmail, liName, liMobile,
	wangPhone, wangName, wangEmail, zhaoEmail, zhaoName, zhaoMobile}

const (
	piiBasicKey = "pii-basic-key"
	piiKitKey   = "pii-kit-key"
	piiTenantID = "pii-tenant"
	piiAppID    = "pii-app"
)

// syncBuffer is a bytes.Buffer that several goroutines may write.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestNoPersonalDataInLogsEventsMetricsOrStatus runs kooper as main.go
// wires it (receiver and controllers, the logger main sets, at
// -zap-log-level=10) against a real API server, buys an instance whose
// newInstance and Query Order carry the buyer's contact data, syncs a
// joint-operation enterprise into it with users, departments and names
// (add, modify, delete, cancel authorisation), and sends malformed calls
// that hold the same values where kooper reads them: an entry that is not
// an object, a wrong JSON type, a field too long, a string where an integer
// is required, a bad signature. Once the directory is delivered with the
// users it should hold, it greps every personal value, as is and escaped,
// in the logs, every Event, the status of every kooper object, the metrics
// and every answer's resultMsg.
func TestNoPersonalDataInLogsEventsMetricsOrStatus(t *testing.T) {
	g := NewWithT(t)
	s := startPIIStack(t)
	t.Cleanup(func() {
		if t.Failed() {
			logFailures(t)
		}
	})

	instanceID := s.buy(t)
	s.syncDirectory(t, instanceID)
	s.sendMalformed(t, instanceID)

	// The calls did what they should: two users and two departments were
	// stored and delivered into the tenant's namespace.
	var d saasv1alpha1.SaaSDirectory
	g.Eventually(func(g Gomega) {
		g.Expect(s.k8s.Get(context.Background(), client.ObjectKey{Name: webhook.DirectoryName(instanceID, piiTenantID)}, &d)).To(Succeed())
		delivered := apimeta.FindStatusCondition(d.Status.Conditions, saasv1alpha1.DeliveredCondition)
		g.Expect(delivered).NotTo(BeNil())
		g.Expect(delivered.Reason).To(Equal(saasv1alpha1.SucceededReason), delivered.Message)
		g.Expect(d.Spec.LastSync).NotTo(BeNil())
		g.Expect(d.Status.ObservedSync).To(Equal(d.Spec.LastSync.Sequence))
		g.Expect(d.Status.Users).To(BeEquivalentTo(2), "users A and B: C was deleted, D's authorisation cancelled")
		g.Expect(d.Status.Departments).To(BeEquivalentTo(2))
		tenant := &saasv1alpha1.SaaSTenant{}
		g.Expect(s.k8s.Get(context.Background(), client.ObjectKey{Name: instanceID}, tenant)).To(Succeed())
		g.Expect(tenant.Status.Directory).NotTo(BeNil())
		g.Expect(tenant.Status.Directory.Users).To(BeEquivalentTo(2))
		g.Expect(events(g, s.k8s)).To(ContainSubstring("2 users, 2 departments"), "the last DirectorySynced Event")
	}, 2*time.Minute).Should(Succeed())
	g.Expect(d.Spec.Name).To(ContainSubstring(hanName), "the enterprise's name is stored (in spec, never in status)")

	records := s.collectRecords(t)
	if findings := leakcheck.Find(records, personalValues); len(findings) > 0 {
		t.Fatalf("personal data leaked, %d times:\n%s", len(findings), strings.Join(findings, "\n"))
	}
}

// logFailures shows what kooper logged as failed, to explain a failure.
func logFailures(t *testing.T) {
	for _, line := range strings.Split(capturedLogs.String(), "\n") {
		if strings.Contains(line, "ERROR") || strings.Contains(line, "Callback failed") {
			t.Log(line)
		}
	}
}

// piiStack is one kooper process (receiver and controllers) with its
// product, keys and a stand-in for the marketplace's Query Order.
type piiStack struct {
	k8s     client.Client
	o       options
	product *saasv1alpha1.SaaSProduct
	rsaKey  *rsa.PrivateKey
	stop    func()

	mu      sync.Mutex
	answers []callAnswer
}

// callAnswer is one answer of the receiver.
type callAnswer struct {
	what       string
	ResultCode string `json:"resultCode"`
	ResultMsg  string `json:"resultMsg"`
	InstanceID string `json:"instanceId"`
}

func startPIIStack(t *testing.T) *piiStack {
	return startStack(t, stackConfig{name: "pii", plans: []saasv1alpha1.Plan{{SKUCode: "basic", Replicas: 1}},
		queryOrder: serveQueryOrderWithBuyer, accessKeyID: "QTWAOYTTINDUT2QVKYUC",
		secretAccessKey: "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc", staleFreezeMargin: time.Hour})
}

// stackConfig is what differs between the stacks these tests run: the
// product (and the namespace kooper-<name>-test), its plans, the stand-in
// marketplace's Query Order and the keys it signs with.
type stackConfig struct {
	name                         string
	plans                        []saasv1alpha1.Plan
	queryOrder                   http.HandlerFunc
	accessKeyID, secretAccessKey string
	staleFreezeMargin            time.Duration
}

// startStack runs kooper (receiver and controllers, wired as main.go wires
// them) against the test API server, with one SaaS product and a stand-in
// marketplace, and waits until it is ready.
func startStack(t *testing.T, c stackConfig) *piiStack {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	k8s, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	ns := "kooper-" + c.name + "-test"
	for _, name := range []string{ns, ns + "-directory"} {
		g.Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})).To(Succeed())
	}
	key, err := koogallery.GenerateRSAKey(koogallery.MinRSABits)
	g.Expect(err).NotTo(HaveOccurred())
	pemKey, err := koogallery.PrivateKeyPEM(key)
	g.Expect(err).NotTo(HaveOccurred())
	market := httptest.NewServer(c.queryOrder)
	t.Cleanup(market.Close)

	s := &piiStack{k8s: k8s, rsaKey: key}
	s.product = &saasv1alpha1.SaaSProduct{
		ObjectMeta: metav1.ObjectMeta{Name: c.name},
		Spec: saasv1alpha1.SaaSProductSpec{
			ProductID: piiProductID, KeysSecretName: c.name + "-keys",
			URLs: &saasv1alpha1.URLTemplates{FrontEndURL: "https://{{.InstanceID}}." + c.name + ".example.com"},
			Workload: &saasv1alpha1.WorkloadTemplate{
				Image: "registry.example.com/app:1.0",
				Ports: []saasv1alpha1.WorkloadPort{{Name: "http", ContainerPort: 8080}},
			},
			Plans: c.plans,
		},
	}
	keys := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: c.name + "-keys"}, StringData: map[string]string{
		saasv1alpha1.BasicKeySecretKey: piiBasicKey, saasv1alpha1.KitKeySecretKey: piiKitKey,
		saasv1alpha1.RSAPrivateKeySecretKey: string(pemKey),
		saasv1alpha1.AccessKeyIDSecretKey:   c.accessKeyID, saasv1alpha1.SecretAccessKeySecretKey: c.secretAccessKey,
	}}
	g.Expect(k8s.Create(ctx, keys)).To(Succeed())
	g.Expect(k8s.Create(ctx, s.product)).To(Succeed())

	s.o = options{
		metricsAddr: freeAddr(t), probeAddr: freeAddr(t), receiverAddr: freeAddr(t),
		namespace: ns, directoryNamespace: ns + "-directory", leaderElectionNS: ns,
		components: componentSet{componentReceiver: true, componentControllers: true},
		kubeAPIQPS: 50, kubeAPIBurst: 100, maxConcurrentReconciles: 4, ingressNamespace: "ingress-nginx",
		marketplaceURLs: []string{market.URL}, signatureWindow: time.Minute, bodySign: true,
		pendingResultCode: "000000", staleFreezeMargin: c.staleFreezeMargin,
		skipNameValidation: true, // the other tests' managers registered the same controllers
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(runCtx, env.Config, s.o) }()
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			g.Eventually(done).WithTimeout(time.Minute).Should(Receive(BeNil()))
		})
	}
	t.Cleanup(s.stop)
	g.Eventually(func() (int, error) {
		code, _, err := get(fmt.Sprintf("http://%s/readyz", s.o.probeAddr))
		return code, err
	}).WithTimeout(time.Minute).Should(Equal(http.StatusOK))
	return s
}

// The order newInstance names, known to the stand-in marketplace.
const (
	piiOrderID   = "CSPIIORDER1"
	piiProductID = "OFFIPII0001"
)

// serveQueryOrderWithBuyer answers Query Order for piiOrderID with the
// buyer's contact data filled in, as the marketplace does (§6.3). kooper
// keeps the account name (status.order.customerName) and ID; the rest it
// must drop.
func serveQueryOrderWithBuyer(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path != koogallery.QueryOrderPath || r.URL.Query().Get("orderId") != piiOrderID {
		_ = json.NewEncoder(w).Encode(koogallery.QueryOrderResponse{ResultCode: "MKT.9001", ResultMsg: "order not found"})
		return
	}
	order := koogallery.OrderInfo{
		OrderID: piiOrderID, OrderType: koogallery.OrderNew, CreateTime: time.Now().UTC().Format("20060102150405"),
		OrderLine: []koogallery.OrderLine{{
			OrderLineID: piiOrderID + "-000001", ChargingMode: koogallery.ChargingPeriod, PeriodType: "year", PeriodNumber: 1,
			ExpireTime:  "20991231235959",
			ProductInfo: []koogallery.ProductInfo{{ProductID: piiProductID, SKUCode: "basic", ProductName: "pii test"}},
		}},
		BuyerInfo: &koogallery.BuyerInfo{MobilePhone: hanPhone, Email: liEmail, CustomerID: "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
			CustomerName: "pii-test-account", CustomerRealName: hanName, UserName: wangEmail},
	}
	_ = json.NewEncoder(w).Encode(koogallery.QueryOrderResponse{ResultCode: koogallery.OpenAPISuccess, ResultMsg: "Success", OrderInfo: &order})
}

// buy sends newInstance carrying a V1-style buyer's fields (kooper reads
// none of them) and waits for the tenant's namespace; it returns the
// instance ID.
func (s *piiStack) buy(t *testing.T) string {
	t.Helper()
	g := NewWithT(t)
	body := basicJSON(map[string]any{"activity": "newInstance", "orderId": piiOrderID, "orderLineId": piiOrderID + "-000001",
		"businessId": "b-1", "testFlag": "0", "customerName": liName, "customerRealName": hanName,
		"mobilePhone": hanPhone, "email": liEmail, "userName": hanEmail})
	a := s.expect(t, "newInstance with a buyer's fields", "000000", func() callAnswer { return s.basic(t, body, piiBasicKey) })
	g.Expect(a.InstanceID).NotTo(BeEmpty())
	s.expect(t, "queryInstance", "000000", func() callAnswer {
		return s.basic(t, basicJSON(map[string]any{"activity": "queryInstance", "instanceId": a.InstanceID}), piiBasicKey)
	})
	g.Eventually(func(g Gomega) {
		tenant := &saasv1alpha1.SaaSTenant{}
		g.Expect(s.k8s.Get(context.Background(), client.ObjectKey{Name: a.InstanceID}, tenant)).To(Succeed())
		g.Expect(tenant.Status.Namespace).NotTo(BeEmpty())
		g.Expect(tenant.Status.Order).NotTo(BeNil(), "Query Order was answered")
	}, 2*time.Minute).Should(Succeed())
	return a.InstanceID
}

// user is one authSync user as the kit sends it (§3.11.3).
func user(userName any, name, mobile, email string) map[string]any {
	return map[string]any{"userName": userName, "name": name, "orgCode": "d-hmm", "role": "user", "enable": "true",
		"mobile": mobile, "email": email, "position": name + "的助理", "employeeCode": "E-" + name}
}

// syncDirectory binds an enterprise to the instance and authorises users
// A, B, C and D, then modifies A, deletes C and cancels D's authorisation;
// departments: root and one named after a user, then another added,
// renamed and the first removed.
func (s *piiStack) syncDirectory(t *testing.T, instanceID string) {
	t.Helper()
	secret, err := koogallery.EncryptClientSecret(&s.rsaKey.PublicKey, "pii-client-secret", koogallery.OAEPSHA256)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	wang := user(json.Number(wangPhone), wangName, "", wangEmail) // a number where a string is documented
	orgs, _ := json.Marshal([]map[string]string{{"orgCode": "root", "orgName": "总部"},
		{"orgCode": "d-sales", "orgName": wangName + "的销售部", "parentCode": "root"}})
	for _, c := range []struct {
		what string
		name koogallery.KitInterface
		rest map[string]any
	}{
		{"tenantSync add", koogallery.KitTenantSync, map[string]any{"orderId": piiOrderID, "tenantCode": "hmm-shop",
			"name": hanName + "的小店", "domainName": "https://hmm.tenantaccount.example.com", "flag": 1}},
		{"applicationSync add", koogallery.KitApplicationSync, map[string]any{"appId": piiAppID, "clientId": "pii-client",
			"clientSecret": secret, "flag": 1}},
		{"allOrgSync as a string", koogallery.KitAllOrgSync, map[string]any{"orgInfoList": string(orgs)}},
		{"singleOrgSync add", koogallery.KitSingleOrgSync, map[string]any{"orgCode": "d-hmm", "orgName": hanName + "工作组",
			"parentCode": "root", "flag": 1}},
		{"singleOrgSync modify", koogallery.KitSingleOrgSync, map[string]any{"orgCode": "d-hmm", "orgName": hanName + "项目组",
			"parentCode": "root", "flag": 2}},
		{"singleOrgSync delete", koogallery.KitSingleOrgSync, map[string]any{"orgCode": "d-sales", "flag": 0}},
		{"authSync add", koogallery.KitAuthSync, authSync(1, user(hanPhone, hanName, hanMobile, hanEmail),
			user(liEmail, liName, liMobile, liEmail), wang, user(zhaoEmail, zhaoName, zhaoMobile, zhaoEmail))},
		{"authSync modify", koogallery.KitAuthSync, authSync(2, user(hanPhone, hanName, hanMobile, liEmail))},
		{"authSync delete", koogallery.KitAuthSync, authSync(0, wang)},
		{"authSync cancel authorisation", koogallery.KitAuthSync, authSync(3, user(zhaoEmail, zhaoName, zhaoMobile, zhaoEmail))},
	} {
		body := kitJSON(instanceID, c.rest)
		s.expect(t, c.what, "000000", func() callAnswer { return s.kit(t, c.name, body, piiKitKey) })
	}
}

func authSync(flag int, users ...map[string]any) map[string]any {
	return map[string]any{"appId": piiAppID, "userList": users, "currentSyncTime": "20250101120000000", "flag": flag}
}

// sendMalformed sends calls kooper refuses, each holding personal values
// where kooper reads them.
func (s *piiStack) sendMalformed(t *testing.T, instanceID string) {
	t.Helper()
	han := user(hanPhone, hanName, hanMobile, hanEmail)
	withUsers := func(users any, extra map[string]any) string {
		rest := authSync(1)
		rest["userList"] = users
		for k, v := range extra {
			rest[k] = v
		}
		return kitJSON(instanceID, rest)
	}
	valid := withUsers([]any{han}, nil)
	common := fmt.Sprintf(`"instanceId":%q,"tenantId":%q,"testFlag":0,"timeStamp":"20250101120000000"`, instanceID, piiTenantID)
	kit := []struct {
		what, want string
		name       koogallery.KitInterface
		body, key  string
	}{
		{"a userList entry that is not an object", "000002", koogallery.KitAuthSync, withUsers([]any{hanPhone, liEmail}, nil), piiKitKey},
		{"a userName holding an object", "000002", koogallery.KitAuthSync,
			withUsers([]any{map[string]any{"userName": map[string]any{"mobile": hanMobile}, "name": hanName}}, nil), piiKitKey},
		{"a userList that is a number", "000002", koogallery.KitAuthSync, withUsers(json.Number(wangPhone), nil), piiKitKey},
		{"a userList string holding broken JSON", "000002", koogallery.KitAuthSync,
			withUsers(`[{"userName":"`+hanPhone+`","name":"`+hanName+`"`, nil), piiKitKey},
		{"a userName too long", "000002", koogallery.KitAuthSync,
			withUsers([]any{user(strings.Repeat(liEmail, 4), liName, liMobile, liEmail)}, nil), piiKitKey},
		{"flag as a string", "000002", koogallery.KitAuthSync, withUsers([]any{han}, map[string]any{"flag": "1"}), piiKitKey},
		{"testFlag holding a phone number", "000002", koogallery.KitAuthSync, withUsers([]any{han}, map[string]any{"testFlag": hanPhone}), piiKitKey},
		{"flag a phone number", "000002", koogallery.KitAuthSync, withUsers([]any{han}, map[string]any{"flag": json.Number(hanPhone)}), piiKitKey},
		{"userList twice", "000002", koogallery.KitAuthSync,
			`{` + common + `,"appId":"` + piiAppID + `","userList":[{"userName":"` + hanPhone + `"}],"userList":[{"userName":"` + liEmail + `"}],"flag":1}`, piiKitKey},
		{"a body that is not JSON", "000002", koogallery.KitAuthSync, `{` + common + `,"userList":[{"userName":"` + hanPhone + `"`, piiKitKey},
		{"a bad signature", "000001", koogallery.KitAuthSync, valid, "not-the-kit-key"},
		{"an orgName too long", "000002", koogallery.KitSingleOrgSync,
			kitJSON(instanceID, map[string]any{"orgCode": "d-x", "orgName": strings.Repeat(hanName, 50), "flag": 1}), piiKitKey},
		{"an orgName holding an object", "000002", koogallery.KitAllOrgSync,
			kitJSON(instanceID, map[string]any{"orgInfoList": []any{map[string]any{"orgCode": "root", "orgName": map[string]string{"name": wangName}}}}), piiKitKey},
		{"a userName too long beside a valid user (the other applied)", "000002", koogallery.KitAuthSync,
			withUsers([]any{han, user(strings.Repeat(liEmail, 4), liName, liMobile, liEmail)}, nil), piiKitKey},
		{"an enterprise name too long", "000002", koogallery.KitTenantSync,
			kitJSON(instanceID, map[string]any{"orderId": "", "tenantCode": "x", "name": strings.Repeat(hanName+liEmail, 20),
				"domainName": "https://x.example.com", "flag": 1}), piiKitKey},
	}
	for _, c := range kit {
		s.expect(t, c.what, c.want, func() callAnswer { return s.kit(t, c.name, c.body, c.key) })
	}
	newInstance := map[string]any{"activity": "newInstance", "orderId": piiOrderID, "orderLineId": piiOrderID + "-000001",
		"businessId": "b-2", "mobilePhone": hanPhone, "email": liEmail}
	with := func(k string, v any) string {
		b := map[string]any{}
		for key, value := range newInstance {
			b[key] = value
		}
		b[k] = v
		return basicJSON(b)
	}
	basic := []struct {
		what, want, body, key string
	}{
		{"an orderId holding an object", "000002", with("orderId", map[string]string{"mobilePhone": hanPhone}), piiBasicKey},
		{"an activity holding an e-mail address", "000002", with("activity", liEmail), piiBasicKey},
		{"an activity holding a phone number", "000002", with("activity", json.Number(hanPhone)), piiBasicKey},
		{"testFlag holding a phone number", "000002", with("testFlag", hanPhone), piiBasicKey},
		{"a bad signature", "000001", with("customerName", hanName), "not-the-basic-key"},
	}
	for _, c := range basic {
		s.expect(t, "newInstance: "+c.what, c.want, func() callAnswer { return s.basic(t, c.body, c.key) })
	}
}

// expect sends a call until it is answered with something other than
// 000005 (the receiver's cache may not hold the keys yet) and checks the
// code.
func (s *piiStack) expect(t *testing.T, what, want string, send func() callAnswer) callAnswer {
	t.Helper()
	var a callAnswer
	NewWithT(t).Eventually(func() string {
		a = send()
		return a.ResultCode
	}).ShouldNot(Equal("000005"), what)
	NewWithT(t).Expect(a.ResultCode).To(Equal(want), "%s: %s", what, a.ResultMsg)
	return a
}

func basicJSON(fields map[string]any) string {
	data, err := json.Marshal(fields)
	if err != nil {
		panic(err)
	}
	return string(data)
}

// kitJSON is a kit body: rest plus the fields every kit call has.
func kitJSON(instanceID string, rest map[string]any) string {
	fields := map[string]any{"instanceId": instanceID, "tenantId": piiTenantID, "testFlag": 0, "timeStamp": "20250101120000000"}
	for k, v := range rest {
		fields[k] = v
	}
	return basicJSON(fields)
}

// basic posts a basic callback signed with key.
func (s *piiStack) basic(t *testing.T, body, key string) callAnswer {
	t.Helper()
	ts, nonce := strconv.FormatInt(time.Now().UnixMilli(), 10), randomHex()
	q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "signature": {strings.Repeat("0", 64)}}
	if canonical, err := koogallery.CanonicalPayload([]byte(body)); err == nil {
		q.Set("signature", koogallery.SignBasic(key, nonce, ts, canonical))
	}
	req, err := http.NewRequest(http.MethodPost, s.productURL()+"?"+q.Encode(), strings.NewReader(body))
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Content-Type", "application/json")
	return s.send(t, "basic", req)
}

// kit posts a kit call signed with key, or unsigned when the body does not
// canonicalise.
func (s *piiStack) kit(t *testing.T, name koogallery.KitInterface, body, key string) callAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.productURL()+koogallery.KitPathPrefix+string(name), strings.NewReader(body))
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	ts, nonce := strconv.FormatInt(time.Now().UnixMilli(), 10), randomHex()
	req.Header.Set("x-timestamp", ts)
	req.Header.Set("x-nonce", nonce)
	req.Header.Set("x-sign", strings.Repeat("0", 64))
	if canonical, err := koogallery.CanonicalKitPayload([]byte(body)); err == nil {
		req.Header.Set("x-sign", koogallery.SignKit(key, nonce, ts, canonical))
	}
	return s.send(t, string(name), req)
}

func (s *piiStack) productURL() string {
	return "http://" + s.o.receiverAddr + webhook.CallbackPathPrefix + s.product.Name
}

func (s *piiStack) send(t *testing.T, what string, req *http.Request) callAnswer {
	t.Helper()
	g := NewWithT(t)
	resp, err := http.DefaultClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	g.Expect(err).NotTo(HaveOccurred())
	a := callAnswer{what: what}
	g.Expect(json.Unmarshal(raw, &a)).To(Succeed(), string(raw))
	s.mu.Lock()
	s.answers = append(s.answers, a)
	s.mu.Unlock()
	return a
}

func randomHex() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// events returns every Event in every namespace, both APIs, as JSON.
func events(g Gomega, k8s client.Client) string {
	core, modern := &corev1.EventList{}, &eventsv1.EventList{}
	g.Expect(k8s.List(context.Background(), core)).To(Succeed())
	g.Expect(k8s.List(context.Background(), modern)).To(Succeed())
	return asJSON(g, core) + asJSON(g, modern)
}

func asJSON(g Gomega, v any) string {
	data, err := json.Marshal(v)
	g.Expect(err).NotTo(HaveOccurred())
	return string(data)
}

// collectRecords gathers what an operator sees: the metrics (the
// controller-runtime registry, which the receiver's metrics are on, as the
// endpoint renders it), every Event, the status of every kooper object,
// every answer's resultMsg and, once the process has stopped, its logs.
func (s *piiStack) collectRecords(t *testing.T) map[string]string {
	t.Helper()
	g := NewWithT(t)
	records := map[string]string{}
	code, metrics, err := get(fmt.Sprintf("http://%s/metrics", s.o.metricsAddr))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(code).To(Equal(http.StatusOK))
	g.Expect(metrics).To(MatchRegexp(`kooper_callbacks_total\{activity="authSync",product="[^"]+",result_code="000000"\}`))
	g.Expect(metrics).To(MatchRegexp(`kooper_callbacks_total\{activity="unknown",product="[^"]*",result_code="000002"\}`))
	records["/metrics"] = metrics

	records["Events"] = events(g, s.k8s)
	g.Expect(records["Events"]).To(ContainSubstring(saasv1alpha1.DirectorySyncedReason))
	ctx := context.Background()
	directories, tenants := &saasv1alpha1.SaaSDirectoryList{}, &saasv1alpha1.SaaSTenantList{}
	licences, products := &saasv1alpha1.LicenseList{}, &saasv1alpha1.SaaSProductList{}
	for _, list := range []client.ObjectList{directories, tenants, licences, products} {
		g.Expect(s.k8s.List(ctx, list)).To(Succeed())
	}
	for _, d := range directories.Items {
		records["SaaSDirectory "+d.Name+" status"] = asJSON(g, d.Status)
	}
	for _, tenant := range tenants.Items {
		records["SaaSTenant "+tenant.Name+" status"] = asJSON(g, tenant.Status)
	}
	for _, l := range licences.Items {
		records["License "+l.Name+" status"] = asJSON(g, l.Status)
	}
	for _, p := range products.Items {
		records["SaaSProduct "+p.Name+" status"] = asJSON(g, p.Status)
	}

	s.mu.Lock()
	for i, a := range s.answers {
		records[fmt.Sprintf("answer %d (%s)", i, a.what)] = a.ResultMsg
	}
	s.mu.Unlock()

	s.stop() // every line is written
	logs := capturedLogs.String()
	g.Expect(logs).To(ContainSubstring(`"activity": "authSync"`), "the receiver's line per callback")
	g.Expect(logs).To(ContainSubstring("Decrypted clientSecret"), "a V(1) line")
	records["logs"] = logs
	return records
}
