package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/leakcheck"
)

// The secrets of the history test: none may reach a status, an Event or a
// log line.
const (
	histAK           = "HISTAKQTWAOYTTINDUT2"
	histSK           = "HISTSKMFyfvK41ba2giqM7Uio6PznpdUKGpow"
	histClientSecret = "hist-client-secret-4f9a1c"
	histPhone        = "13987654321"
	histBuyerPhone   = "+86 135 1234 5678"
)

// TestCallbackHistoryAndAuditLine drives 25 callbacks through the receiver
// and the controllers as main.go wires them (a purchase, queryInstance, kit
// syncs with a clientSecret and a user's phone number, 16 renewals, an
// upgrade, a freeze and an unfreeze, a release), then checks that the
// tenant's status.history holds the last 20 marketplace events with the
// right activities and changes, that the audit line appears once per
// callback with its documented fields, and that no secret (clientSecret,
// phone numbers, the tenant's password, the AK/SK) is in any status, Event
// or log line.
func TestCallbackHistoryAndAuditLine(t *testing.T) {
	g := NewWithT(t)
	s := startHistoryStack(t)
	ctx := context.Background()
	send := func(what string, fields map[string]any) callAnswer {
		fields["testFlag"] = "0"
		return s.expect(t, what, "000000", func() callAnswer { return s.basic(t, basicJSON(fields), piiBasicKey) })
	}
	get := func(g Gomega, id string) *saasv1alpha1.SaaSTenant {
		st := &saasv1alpha1.SaaSTenant{}
		g.Expect(s.k8s.Get(ctx, client.ObjectKey{Name: id}, st)).To(Succeed())
		return st
	}
	waitChange := func(id, change string) {
		g.Eventually(func(g Gomega) {
			var changes []string
			for _, e := range get(g, id).Status.History {
				changes = append(changes, e.Change)
			}
			g.Expect(changes).To(ContainElement(change))
		}, time.Minute).Should(Succeed())
	}

	// 1-2: the purchase, with a buyer's phone number, and queryInstance.
	a := send("newInstance", map[string]any{"activity": "newInstance", "orderId": "HORD00", "orderLineId": "HORD00-000001",
		"businessId": "hb-1", "mobilePhone": histBuyerPhone})
	id := a.InstanceID
	g.Eventually(func(g Gomega) { g.Expect(get(g, id).Status.CredentialsSecretName).NotTo(BeEmpty()) }, 2*time.Minute).Should(Succeed())
	send("queryInstance", map[string]any{"activity": "queryInstance", "instanceId": id})
	waitChange(id, "purchased plan basic")
	// The tenant's password, as appInfo delivers it.
	bought, creds := get(g, id), &corev1.Secret{}
	g.Expect(s.k8s.Get(ctx, client.ObjectKey{Namespace: bought.Status.Namespace, Name: bought.Status.CredentialsSecretName}, creds)).To(Succeed())
	password := string(creds.Data[saasv1alpha1.CredentialsPasswordKey])
	g.Expect(password).NotTo(BeEmpty())

	// 3-5: the kit: an enterprise, an application with its clientSecret, a
	// user with a phone number.
	secret, err := koogallery.EncryptClientSecret(&s.rsaKey.PublicKey, histClientSecret, koogallery.OAEPSHA256)
	g.Expect(err).NotTo(HaveOccurred())
	for _, c := range []struct {
		name koogallery.KitInterface
		rest map[string]any
	}{
		{koogallery.KitTenantSync, map[string]any{"orderId": "HORD00", "tenantCode": "hist-shop", "name": "Hist shop",
			"domainName": "https://hist.tenantaccount.example.com", "flag": 1}},
		{koogallery.KitApplicationSync, map[string]any{"appId": piiAppID, "clientId": "hist-client", "clientSecret": secret, "flag": 1}},
		{koogallery.KitAuthSync, authSync(1, user(histPhone, "Hist User", histPhone, "hist.user@example.cn"))},
	} {
		body := kitJSON(id, c.rest)
		s.expect(t, string(c.name), "000000", func() callAnswer { return s.kit(t, c.name, body, piiKitKey) })
	}

	// 6-13: eight renewals; 14: an upgrade; 15-16: a freeze and an unfreeze.
	expiry := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	renew := func(n int) {
		send(fmt.Sprintf("renewal %d", n), map[string]any{"activity": "refreshInstance", "instanceId": id, "scene": "RENEWAL",
			"orderId": fmt.Sprintf("HREN%02d", n), "orderLineId": fmt.Sprintf("HREN%02d-000001", n), "productId": piiProductID,
			"expireTime": expiry.AddDate(0, n, 0).Format("20060102150405")})
	}
	for n := 1; n <= 8; n++ {
		renew(n)
	}
	send("upgradeInstance", map[string]any{"activity": "upgradeInstance", "instanceId": id, "orderId": "HUPG01", "orderLineId": "HUPG01-000001"})
	waitChange(id, "plan basic → pro")
	send("freeze", map[string]any{"activity": "updateInstanceStatus", "instanceId": id, "status": "FREEZE"})
	waitChange(id, "frozen")
	send("unfreeze", map[string]any{"activity": "updateInstanceStatus", "instanceId": id, "status": "UNFREEZE"})
	waitChange(id, "unfrozen")

	// 17-24: eight more renewals; 25: the release.
	for n := 9; n <= 16; n++ {
		renew(n)
	}
	send("releaseInstance", map[string]any{"activity": "releaseInstance", "instanceId": id, "orderId": "HREL01", "orderLineId": "HREL01-000001"})
	waitChange(id, "released")

	// The history: 21 events recorded, the last 20 kept (the purchase dropped).
	want := []string{}
	for n := 1; n <= 8; n++ {
		want = append(want, fmt.Sprintf("refreshInstance HREN%02d Active Applied expireTime moved to %s", n, expiry.AddDate(0, n, 0).Format(time.RFC3339)))
	}
	want = append(want, "upgradeInstance HUPG01 Active Applied plan basic → pro",
		"updateInstanceStatus  Frozen Applied frozen", "updateInstanceStatus  Active Applied unfrozen")
	for n := 9; n <= 16; n++ {
		want = append(want, fmt.Sprintf("refreshInstance HREN%02d Active Applied expireTime moved to %s", n, expiry.AddDate(0, n, 0).Format(time.RFC3339)))
	}
	want = append(want, "releaseInstance HREL01 Released Applied released")
	var got []string
	released := get(g, id)
	for _, e := range released.Status.History {
		got = append(got, fmt.Sprintf("%s %s %s %s %s", e.Activity, e.OrderID, e.State, e.Result, e.Change))
		g.Expect(e.Time.IsZero()).To(BeFalse())
	}
	g.Expect(got).To(Equal(want))

	// What an operator sees: every status, every Event, the answers; then the logs.
	records := map[string]string{"Events": events(g, s.k8s)}
	tenants, licences := &saasv1alpha1.SaaSTenantList{}, &saasv1alpha1.LicenseList{}
	g.Expect(s.k8s.List(ctx, tenants)).To(Succeed())
	g.Expect(s.k8s.List(ctx, licences)).To(Succeed())
	for _, st := range tenants.Items {
		records["SaaSTenant "+st.Name+" status"] = asJSON(g, st.Status)
	}
	for _, l := range licences.Items {
		records["License "+l.Name+" status"] = asJSON(g, l.Status)
	}
	s.mu.Lock()
	answers := len(s.answers)
	for i, a := range s.answers {
		records[fmt.Sprintf("answer %d (%s)", i, a.what)] = a.ResultMsg
	}
	s.mu.Unlock()
	s.stop()
	logs := capturedLogs.String()
	records["logs"] = logs
	if findings := leakcheck.Find(records, []string{histAK, histSK, histClientSecret, histPhone, histBuyerPhone, password}); len(findings) > 0 {
		t.Fatalf("a secret leaked, %d times:\n%s", len(findings), strings.Join(findings, "\n"))
	}

	// The audit line: once per callback this product was sent, with its fields.
	audit := regexp.MustCompile(`\t(INFO|ERROR)\taudit\tCallback (answered|failed)\t(\{.*\})`)
	var lines []map[string]any
	for _, line := range strings.Split(logs, "\n") {
		m := audit.FindStringSubmatch(line)
		if m == nil || !strings.Contains(line, `"product": "hist"`) {
			continue
		}
		fields := map[string]any{}
		g.Expect(json.Unmarshal([]byte(m[3]), &fields)).To(Succeed(), line)
		g.Expect(fields).To(HaveKey("requestId"))
		for _, k := range []string{"activity", "instanceId", "orderId", "resultCode", "duration"} {
			g.Expect(fields).To(HaveKey(k), line)
		}
		g.Expect(line).To(MatchRegexp(`^\d{4}-\d\d-\d\dT`), "the time")
		lines = append(lines, fields)
	}
	g.Expect(lines).To(HaveLen(answers), "one audit line per callback")
	g.Expect(answers).To(BeNumerically(">=", 25))
	activities := map[string]int{}
	for _, f := range lines {
		if f["resultCode"] == "000000" {
			activities[f["activity"].(string)]++
		}
	}
	g.Expect(activities).To(Equal(map[string]int{"newInstance": 1, "queryInstance": 1, "tenantSync": 1, "applicationSync": 1,
		"authSync": 1, "refreshInstance": 16, "upgradeInstance": 1, "updateInstanceStatus": 2, "releaseInstance": 1}))
}

// startHistoryStack runs kooper (receiver and controllers) with a product
// of two plans and a Query Order stand-in that answers every order, with the
// buyer's phone number in it.
func startHistoryStack(t *testing.T) *piiStack {
	return startStack(t, stackConfig{name: "hist", plans: []saasv1alpha1.Plan{{SKUCode: "basic", Replicas: 1}, {SKUCode: "pro", Replicas: 1}},
		queryOrder: serveHistoryOrders, accessKeyID: histAK, secretAccessKey: histSK})
}

// serveHistoryOrders answers Query Order for every order: HUPG orders
// select plan pro, the others basic; the buyer's phone number comes along.
func serveHistoryOrders(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	id := r.URL.Query().Get("orderId")
	sku, orderType := "basic", koogallery.OrderNew
	if strings.HasPrefix(id, "HUPG") {
		sku, orderType = "pro", "CHANGE"
	}
	order := koogallery.OrderInfo{
		OrderID: id, OrderType: orderType, CreateTime: time.Now().UTC().Format("20060102150405"),
		OrderLine: []koogallery.OrderLine{{
			OrderLineID: id + "-000001", ChargingMode: koogallery.ChargingPeriod, PeriodType: "year", PeriodNumber: 1,
			ExpireTime:  "20991231235959",
			ProductInfo: []koogallery.ProductInfo{{ProductID: piiProductID, SKUCode: sku, ProductName: "history test"}},
		}},
		BuyerInfo: &koogallery.BuyerInfo{MobilePhone: histBuyerPhone, CustomerID: "0f1e2d3c4b5a69788796a5b4c3d2e1f1", CustomerName: "hist-account"},
	}
	_ = json.NewEncoder(w).Encode(koogallery.QueryOrderResponse{ResultCode: koogallery.OpenAPISuccess, ResultMsg: "Success", OrderInfo: &order})
}
