package koogallery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// mockPeriodYearNew is the real answer for MOCKPERIODYEARNEW quoted in §6.3.
const mockPeriodYearNew = `{"resultCode":"MKT.0000","resultMsg":"Success","orderInfo":{"orderId":"MOCKPERIODYEARNEW","orderType":"NEW","createTime":"20241121090846","orderLine":[{"orderLineId":"MOCKPERIODYEARNEW-000001","chargingMode":"PERIOD","periodType":"year","periodNumber":1,"expireTime":"20251121235959","productInfo":[{"productId":"OFFI846204237451911168","skuCode":"0a4d1578-5295-46a7-92d4-7c803dccc51d","linearValue":50,"productName":"MOCK测试商品,测试规格,基础版,包周期"}],"extendParams":[{"name":"emailDomainName","value":"test.xxxx.com"},{"name":"ip","value":"127.0.0.1"}],"currency":"100","currencyAfterDiscount":"100"}],"buyerInfo":{"mobilePhone":"18688888888","email":null,"customerId":"459bbbec25d24749b2eb83be37b602a8","customerName":"mock_user_01","customerRealName":"测试用户1","customerType":0,"userId":null,"userName":null},"extendParams":[]}}`

// marketplace is a fake open-API host that checks the AK/SK signature of
// every request and counts them.
type marketplace struct {
	*httptest.Server
	hits    atomic.Int32
	lastURL atomic.Value
}

func newMarketplace(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) *marketplace {
	t.Helper()
	m := &marketplace{}
	m.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.hits.Add(1)
		m.lastURL.Store(r.URL.String())
		if err := VerifyAPIGSignature(r, nil, lookupTestSecret, time.Now(), 15*time.Minute); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error_code":"APIG.0301","error_msg":"` + err.Error() + `"}`))
			return
		}
		answer(w, r)
	}))
	t.Cleanup(m.Close)
	return m
}

func answerWith(status int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

// testClient returns a client for baseURLs whose transport trusts the test
// servers' certificates, so that verification stays on.
func testClient(servers []*marketplace, baseURLs ...string) *Client {
	pool := x509.NewCertPool()
	for _, s := range servers {
		pool.AddCert(s.Certificate())
	}
	c := NewClient("AK123", "SK-secret-value", baseURLs...)
	c.HTTP.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	return c
}

// closedURL returns an https URL on a loopback port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return "https://" + addr
}

func TestQueryOrderParsesTheMockOrder(t *testing.T) {
	g := NewWithT(t)
	m := newMarketplace(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != QueryOrderPath || r.Method != http.MethodGet || r.Header.Get("Content-Type") != "application/json" {
			answerWith(http.StatusNotFound, `{"resultCode":"MKT.0101","resultMsg":"unexpected request"}`)(w, r)
			return
		}
		answerWith(http.StatusOK, mockPeriodYearNew)(w, r)
	})
	order, err := testClient([]*marketplace{m}, m.URL).QueryOrder(context.Background(), "MOCKPERIODYEARNEW", "MOCKPERIODYEARNEW-000001")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(m.lastURL.Load()).To(Equal(QueryOrderPath + "?orderId=MOCKPERIODYEARNEW&orderLineId=MOCKPERIODYEARNEW-000001"))

	fifty := json.Number("50")
	g.Expect(order).To(Equal(&OrderInfo{
		OrderID:    "MOCKPERIODYEARNEW",
		OrderType:  OrderNew,
		CreateTime: "20241121090846",
		OrderLine: []OrderLine{{
			OrderLineID:  "MOCKPERIODYEARNEW-000001",
			ChargingMode: ChargingPeriod,
			PeriodType:   "year",
			PeriodNumber: 1,
			ExpireTime:   "20251121235959",
			ProductInfo: []ProductInfo{{
				ProductID:   "OFFI846204237451911168",
				SKUCode:     "0a4d1578-5295-46a7-92d4-7c803dccc51d",
				LinearValue: &fifty,
				ProductName: "MOCK测试商品,测试规格,基础版,包周期",
			}},
			ExtendParams:          []NameValue{{Name: "emailDomainName", Value: "test.xxxx.com"}, {Name: "ip", Value: "127.0.0.1"}},
			Currency:              "100",
			CurrencyAfterDiscount: "100",
		}},
		BuyerInfo: &BuyerInfo{
			MobilePhone:      "18688888888",
			CustomerID:       "459bbbec25d24749b2eb83be37b602a8",
			CustomerName:     "mock_user_01",
			CustomerRealName: "测试用户1",
		},
		ExtendParams: []NameValue{},
	}))
	line, ok := order.Line("")
	g.Expect(ok).To(BeTrue())
	g.Expect(line.OrderLineID).To(Equal("MOCKPERIODYEARNEW-000001"))
	expiry, err := ParseExpireTime(line.ExpireTime)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(expiry).To(Equal(time.Date(2025, 11, 21, 23, 59, 59, 0, time.UTC)))
}

func TestQueryOrderOmitsAnEmptyOrderLine(t *testing.T) {
	g := NewWithT(t)
	m := newMarketplace(t, answerWith(http.StatusOK, mockPeriodYearNew))
	_, err := testClient([]*marketplace{m}, m.URL).QueryOrder(context.Background(), "MOCKPERIODYEARNEW", "")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(m.lastURL.Load()).To(Equal(QueryOrderPath + "?orderId=MOCKPERIODYEARNEW"))
}

func TestQueryOrderErrors(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		want       *APIError
		wantSecond int32
	}{
		{"business error", http.StatusOK, `{"resultCode":"MKT.0154","resultMsg":"Illegal token"}`, &APIError{HTTPStatus: 200, Code: "MKT.0154", Message: "Illegal token"}, 0},
		{"client error with a code", http.StatusBadRequest, `{"resultCode":"MKT.0101","resultMsg":"bad request"}`, &APIError{HTTPStatus: 400, Code: "MKT.0101", Message: "bad request"}, 0},
		{"gateway error", http.StatusUnauthorized, `{"error_code":"APIG.0301","error_msg":"Incorrect IAM authentication information"}`, &APIError{HTTPStatus: 401, Code: "APIG.0301", Message: "Incorrect IAM authentication information"}, 0},
		{"client error without JSON", http.StatusForbidden, `<html>denied</html>`, &APIError{HTTPStatus: 403, Message: "Forbidden"}, 0},
		{"success without a code", http.StatusOK, `{}`, &APIError{HTTPStatus: 200}, 0},
		{"success that is not JSON", http.StatusOK, `ok`, &APIError{HTTPStatus: 200, Message: "OK"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			first := newMarketplace(t, answerWith(tt.status, tt.body))
			second := newMarketplace(t, answerWith(http.StatusOK, mockPeriodYearNew))
			_, err := testClient([]*marketplace{first, second}, first.URL, second.URL).QueryOrder(context.Background(), "O1", "")
			var apiErr *APIError
			g.Expect(errors.As(err, &apiErr)).To(BeTrue(), "error %v is an *APIError", err)
			g.Expect(apiErr).To(Equal(tt.want))
			g.Expect(second.hits.Load()).To(Equal(tt.wantSecond), "business errors are not retried on the next host")
		})
	}
}

func TestQueryOrderWithoutOrderInfo(t *testing.T) {
	g := NewWithT(t)
	m := newMarketplace(t, answerWith(http.StatusOK, `{"resultCode":"MKT.0000","resultMsg":"Success"}`))
	_, err := testClient([]*marketplace{m}, m.URL).QueryOrder(context.Background(), "O1", "")
	g.Expect(err).To(MatchError(ContainSubstring("no orderInfo")))
}

func TestQueryOrderFallsBack(t *testing.T) {
	tests := []struct {
		name  string
		first func(t *testing.T) (string, *marketplace)
	}{
		{"first host unreachable", func(t *testing.T) (string, *marketplace) { return closedURL(t), nil }},
		{"first host answers 502", func(t *testing.T) (string, *marketplace) {
			m := newMarketplace(t, answerWith(http.StatusBadGateway, `<html>bad gateway</html>`))
			return m.URL, m
		}},
		{"first host answers 500 with a code", func(t *testing.T) (string, *marketplace) {
			m := newMarketplace(t, answerWith(http.StatusInternalServerError, `{"resultCode":"MKT.0999","resultMsg":"system error"}`))
			return m.URL, m
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			firstURL, first := tt.first(t)
			second := newMarketplace(t, answerWith(http.StatusOK, mockPeriodYearNew))
			servers := []*marketplace{second}
			if first != nil {
				servers = append(servers, first)
			}
			order, err := testClient(servers, firstURL, second.URL).QueryOrder(context.Background(), "MOCKPERIODYEARNEW", "")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(order.OrderID).To(Equal("MOCKPERIODYEARNEW"))
			g.Expect(second.hits.Load()).To(Equal(int32(1)))
			if first != nil {
				g.Expect(first.hits.Load()).To(Equal(int32(1)))
			}
		})
	}
}

func TestQueryOrderAllHostsFail(t *testing.T) {
	g := NewWithT(t)
	down := closedURL(t)
	bad := newMarketplace(t, answerWith(http.StatusServiceUnavailable, `{"resultCode":"MKT.0100","resultMsg":"busy"}`))
	_, err := testClient([]*marketplace{bad}, down, bad.URL).QueryOrder(context.Background(), "O1", "O1-000001")
	g.Expect(err).To(HaveOccurred())
	var apiErr *APIError
	g.Expect(errors.As(err, &apiErr)).To(BeTrue())
	g.Expect(apiErr).To(Equal(&APIError{HTTPStatus: 503, Code: "MKT.0100", Message: "busy"}))
	g.Expect(err.Error()).To(ContainSubstring(strings.TrimPrefix(down, "https://")))
	g.Expect(err.Error()).To(ContainSubstring(strings.TrimPrefix(bad.URL, "https://")))
	g.Expect(err.Error()).NotTo(ContainSubstring("orderLineId="), "no query string in errors")
	g.Expect(err.Error()).NotTo(ContainSubstring("SK-secret-value"))
	g.Expect(err.Error()).NotTo(ContainSubstring("\n"))
}

func TestQueryOrderVerifiesCertificates(t *testing.T) {
	g := NewWithT(t)
	m := newMarketplace(t, answerWith(http.StatusOK, mockPeriodYearNew))
	// NewClient's own transport does not trust the test certificate.
	_, err := NewClient("AK123", "SK-secret-value", m.URL).QueryOrder(context.Background(), "O1", "")
	g.Expect(err).To(MatchError(ContainSubstring("certificate")))
	g.Expect(m.hits.Load()).To(BeZero())
}

// blocking answers only when the request is cancelled or the test ends.
func blocking(t *testing.T) func(http.ResponseWriter, *http.Request) {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	return func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}
}

func TestQueryOrderRespectsContext(t *testing.T) {
	t.Run("deadline", func(t *testing.T) {
		g := NewWithT(t)
		slow := newMarketplace(t, blocking(t))
		second := newMarketplace(t, answerWith(http.StatusOK, mockPeriodYearNew))
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := testClient([]*marketplace{slow, second}, slow.URL, second.URL).QueryOrder(ctx, "O1", "")
		g.Expect(err).To(MatchError(context.DeadlineExceeded))
		g.Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second))
		g.Expect(second.hits.Load()).To(BeZero(), "a cancelled call does not move on to the next host")
	})
	t.Run("already cancelled", func(t *testing.T) {
		g := NewWithT(t)
		m := newMarketplace(t, answerWith(http.StatusOK, mockPeriodYearNew))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := testClient([]*marketplace{m}, m.URL).QueryOrder(ctx, "O1", "")
		g.Expect(err).To(MatchError(context.Canceled))
		g.Expect(m.hits.Load()).To(BeZero())
	})
	t.Run("client timeout", func(t *testing.T) {
		g := NewWithT(t)
		slow := newMarketplace(t, blocking(t))
		c := testClient([]*marketplace{slow}, slow.URL)
		c.HTTP.Timeout = 100 * time.Millisecond
		start := time.Now()
		_, err := c.QueryOrder(context.Background(), "O1", "")
		g.Expect(err).To(HaveOccurred())
		var netErr net.Error
		g.Expect(errors.As(err, &netErr) && netErr.Timeout()).To(BeTrue(), "error %v is a timeout", err)
		g.Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second))
	})
}

func TestQueryOrderNeedsAnOrderID(t *testing.T) {
	_, err := NewClient("ak", "sk").QueryOrder(context.Background(), "", "")
	NewWithT(t).Expect(err).To(MatchError(ContainSubstring("order ID is required")))
}

func TestNewClientDefaults(t *testing.T) {
	g := NewWithT(t)
	c := NewClient("ak", "sk")
	g.Expect(c.BaseURLs).To(Equal(DefaultBaseURLs))
	g.Expect(c.HTTP.Timeout).To(Equal(10 * time.Second))
	transport, ok := c.HTTP.Transport.(*http.Transport)
	g.Expect(ok).To(BeTrue())
	g.Expect(transport.TLSClientConfig.InsecureSkipVerify).To(BeFalse())
	g.Expect(c.Signer).To(Equal(Signer{AccessKeyID: "ak", SecretAccessKey: "sk"}))
	c.BaseURLs[0] = "changed"
	g.Expect(DefaultBaseURLs[0]).To(Equal("https://mkt.myhuaweicloud.com"), "clients do not share the default slice")
}

func TestNewClientWithSendsThroughTheSharedHTTPClient(t *testing.T) {
	g := NewWithT(t)
	shared := NewHTTPClient()
	g.Expect(shared.Timeout).To(Equal(DefaultTimeout))
	transport, ok := shared.Transport.(*http.Transport)
	g.Expect(ok).To(BeTrue())
	g.Expect(transport.TLSClientConfig.MinVersion).To(Equal(uint16(tls.VersionTLS12)))
	g.Expect(transport.TLSClientConfig.InsecureSkipVerify).To(BeFalse())
	g.Expect(NewHTTPClient().Transport).NotTo(BeIdenticalTo(shared.Transport), "each HTTP client has a transport of its own")

	a := NewClientWith(shared, "ak-a", "sk-a")
	b := NewClientWith(shared, "ak-b", "sk-b", "https://mkt.example.test")
	g.Expect(a.HTTP).To(BeIdenticalTo(shared))
	g.Expect(b.HTTP).To(BeIdenticalTo(shared))
	g.Expect(a.BaseURLs).To(Equal(DefaultBaseURLs))
	g.Expect(b.BaseURLs).To(Equal([]string{"https://mkt.example.test"}))
	g.Expect(a.Signer).To(Equal(Signer{AccessKeyID: "ak-a", SecretAccessKey: "sk-a"}))
	g.Expect(b.Signer).To(Equal(Signer{AccessKeyID: "ak-b", SecretAccessKey: "sk-b"}))
}

func TestOrderInfoLine(t *testing.T) {
	g := NewWithT(t)
	order := &OrderInfo{OrderLine: []OrderLine{{OrderLineID: "O-000001"}, {OrderLineID: "O-000002"}}}
	line, ok := order.Line("O-000002")
	g.Expect(ok).To(BeTrue())
	g.Expect(line).To(BeIdenticalTo(&order.OrderLine[1]))
	_, ok = order.Line("O-000003")
	g.Expect(ok).To(BeFalse())
	_, ok = order.Line("")
	g.Expect(ok).To(BeFalse(), "an empty ID is ambiguous with two lines")
	_, ok = (&OrderInfo{}).Line("")
	g.Expect(ok).To(BeFalse())
	_, ok = (*OrderInfo)(nil).Line("x")
	g.Expect(ok).To(BeFalse())
}

func TestAPIErrorMessage(t *testing.T) {
	g := NewWithT(t)
	g.Expect((&APIError{HTTPStatus: 200, Code: "MKT.0154", Message: "Illegal token"}).Error()).To(Equal("marketplace answered MKT.0154 (HTTP 200): Illegal token"))
	g.Expect((&APIError{HTTPStatus: 502, Message: "Bad Gateway"}).Error()).To(Equal("marketplace answered no code (HTTP 502): Bad Gateway"))
}
