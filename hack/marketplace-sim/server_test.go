package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	. "github.com/onsi/gomega/gstruct"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// specSampleResponse is the marketplace's recorded answer for
// MOCKPERIODYEARNEW, copied from spec §6.3.
const specSampleResponse = `{"resultCode":"MKT.0000","resultMsg":"Success","orderInfo":{"orderId":"MOCKPERIODYEARNEW","orderType":"NEW","createTime":"20241121090846","orderLine":[{"orderLineId":"MOCKPERIODYEARNEW-000001","chargingMode":"PERIOD","periodType":"year","periodNumber":1,"expireTime":"20251121235959","productInfo":[{"productId":"OFFI846204237451911168","skuCode":"0a4d1578-5295-46a7-92d4-7c803dccc51d","linearValue":50,"productName":"MOCK测试商品,测试规格,基础版,包周期"}],"extendParams":[{"name":"emailDomainName","value":"test.xxxx.com"},{"name":"ip","value":"127.0.0.1"}],"currency":"100","currencyAfterDiscount":"100"}],"buyerInfo":{"mobilePhone":"18688888888","email":null,"customerId":"459bbbec25d24749b2eb83be37b602a8","customerName":"mock_user_01","customerRealName":"测试用户1","customerType":0,"userId":null,"userName":null},"extendParams":[]}}`

// startSim serves a simulator on a loopback httptest server.
func startSim(t *testing.T, cfg serverConfig) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(newSimServer(cfg))
	t.Cleanup(srv.Close)
	return srv
}

// orderClient is kooper's own Query Order client pointed at the simulator.
func orderClient(base, ak, sk string) *koogallery.Client {
	return koogallery.NewClient(ak, sk, base)
}

// apiError extracts the marketplace error from a client error.
func apiError(err error) *koogallery.APIError {
	var apiErr *koogallery.APIError
	if errors.As(err, &apiErr) {
		return apiErr
	}
	return nil
}

func TestQueryOrderServesEveryMockOrder(t *testing.T) {
	srv := startSim(t, defaultServerConfig())
	client := orderClient(srv.URL, defaultAccessKeyID, defaultSecretAccessKey)
	cases := []struct {
		orderID, orderType, chargingMode, periodType string
		periodNumber                                 int
	}{
		{"MOCKPERIODYEARNEW", "NEW", "PERIOD", "year", 1},
		{"MOCKONETIMENEW", "NEW", "ONE_TIME", "", 0},
		{"MOCKONDEMAND", "NEW", "ON_DEMAND", "", 0},
		{"MOCKONDEMANDPKG", "NEW", "ON_DEMAND_PKG", "year", 1},
		{"MOCKPERIODDAYTRIAL", "TRIAL", "PERIOD", "day", 7},
		{"MOCKMONTYTRIALTOFORMAL", "TRIAL_TO_FORMAL", "PERIOD", "month", 1},
		{"MOCKMONTYUNSUBSCRIBE", "UNSUBSCRIBE", "PERIOD", "month", 1},
		{"MOCKMONTYRENEW", "RENEW", "PERIOD", "month", 1},
		{"MOCKMONTYCHANGE", "CHANGE", "PERIOD", "month", 1},
	}
	for _, tc := range cases {
		t.Run(tc.orderID, func(t *testing.T) {
			g := NewWithT(t)
			order, err := client.QueryOrder(ctxFor(t), tc.orderID, tc.orderID+"-000001")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(order.OrderID).To(Equal(tc.orderID))
			g.Expect(order.OrderType).To(Equal(tc.orderType))
			line, ok := order.Line(tc.orderID + "-000001")
			g.Expect(ok).To(BeTrue())
			g.Expect(line.ChargingMode).To(Equal(tc.chargingMode))
			g.Expect(line.PeriodType).To(Equal(tc.periodType))
			g.Expect(line.PeriodNumber).To(Equal(tc.periodNumber))
			g.Expect(line.ProductInfo).To(HaveLen(1))
			g.Expect(line.ProductInfo[0].ProductID).To(Equal(mockProductID))
			g.Expect(line.ProductInfo[0].SKUCode).To(Equal(mockSKU))
		})
	}
}

func TestQueryOrderServesTheRecordedSampleForMOCKPERIODYEARNEW(t *testing.T) {
	g := NewWithT(t)
	srv := startSim(t, defaultServerConfig())
	order, err := orderClient(srv.URL, defaultAccessKeyID, defaultSecretAccessKey).QueryOrder(ctxFor(t), "MOCKPERIODYEARNEW", "")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(order.CreateTime).To(Equal("20241121090846"))
	line, ok := order.Line("MOCKPERIODYEARNEW-000001")
	g.Expect(ok).To(BeTrue())
	g.Expect(line.ExpireTime).To(Equal("20251121235959"))
	g.Expect(line.ProductInfo[0].LinearValue.String()).To(Equal("50"))
	g.Expect(line.ProductInfo[0].ProductName).To(Equal("MOCK测试商品,测试规格,基础版,包周期"))
	g.Expect(line.ExtendParams).To(ContainElement(koogallery.NameValue{Name: "emailDomainName", Value: "test.xxxx.com"}))
	g.Expect(line.Currency).To(Equal("100"))
	g.Expect(order.BuyerInfo.CustomerID).To(Equal("459bbbec25d24749b2eb83be37b602a8"))
	g.Expect(order.BuyerInfo.CustomerName).To(Equal("mock_user_01"))
	g.Expect(order.BuyerInfo.MobilePhone).To(Equal("18688888888"))

	// Byte for byte, nulls and field order included.
	resp := signedDo(t, http.MethodGet, srv.URL+koogallery.QueryOrderPath+"?orderId=MOCKPERIODYEARNEW", "application/json", nil)
	g.Expect(resp.status).To(Equal(http.StatusOK))
	g.Expect(string(resp.body)).To(Equal(specSampleResponse))
}

// rawResponse is a status and body.
type rawResponse struct {
	status int
	body   []byte
}

// signedDo sends a request signed with the default AK/SK.
func signedDo(t *testing.T, method, target, contentType string, body []byte) rawResponse {
	t.Helper()
	return doWith(t, method, target, contentType, body, func(req *http.Request) {
		signer := koogallery.Signer{AccessKeyID: defaultAccessKeyID, SecretAccessKey: defaultSecretAccessKey}
		NewWithT(t).Expect(signer.Sign(req, body)).To(Succeed())
	})
}

// doWith sends a request after prepare has set it up.
func doWith(t *testing.T, method, target, contentType string, body []byte, prepare func(*http.Request)) rawResponse {
	t.Helper()
	g := NewWithT(t)
	req, err := http.NewRequestWithContext(ctxFor(t), method, target, bytes.NewReader(body))
	g.Expect(err).NotTo(HaveOccurred())
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if prepare != nil {
		prepare(req)
	}
	resp, err := http.DefaultClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	g.Expect(err).NotTo(HaveOccurred())
	return rawResponse{status: resp.StatusCode, body: data}
}

func TestQueryOrderRefusesABadAKSKSignature(t *testing.T) {
	srv := startSim(t, defaultServerConfig())
	hourAgo := func() time.Time { return time.Now().Add(-time.Hour) }
	cases := []struct {
		name   string
		client *koogallery.Client
	}{
		{"wrong secret key", orderClient(srv.URL, defaultAccessKeyID, "not-the-secret")},
		{"unknown access key", orderClient(srv.URL, "UNKNOWNAK", defaultSecretAccessKey)},
		{"X-Sdk-Date an hour old", &koogallery.Client{BaseURLs: []string{srv.URL},
			Signer: koogallery.Signer{AccessKeyID: defaultAccessKeyID, SecretAccessKey: defaultSecretAccessKey, Now: hourAgo}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := tc.client.QueryOrder(ctxFor(t), "MOCKPERIODYEARNEW", "")
			g.Expect(err).To(HaveOccurred())
			g.Expect(apiError(err)).To(PointTo(MatchFields(IgnoreExtras, Fields{
				"HTTPStatus": Equal(http.StatusUnauthorized), "Code": Equal("APIG.0301"),
			})))
			g.Expect(err.Error()).NotTo(ContainSubstring(defaultSecretAccessKey))
		})
	}
	t.Run("unsigned", func(t *testing.T) {
		resp := doWith(t, http.MethodGet, srv.URL+koogallery.QueryOrderPath+"?orderId=MOCKPERIODYEARNEW", "", nil, nil)
		NewWithT(t).Expect(resp.status).To(Equal(http.StatusUnauthorized))
	})
}

func TestQueryOrderAnswersUnknownOrdersAndLinesWithMKT9001(t *testing.T) {
	srv := startSim(t, defaultServerConfig())
	client := orderClient(srv.URL, defaultAccessKeyID, defaultSecretAccessKey)
	cases := []struct {
		name, orderID, lineID string
	}{
		{"unknown order", "CSNOSUCHORDER", ""},
		{"unknown line of a mock order", "MOCKPERIODYEARNEW", "MOCKPERIODYEARNEW-000002"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := client.QueryOrder(ctxFor(t), tc.orderID, tc.lineID)
			g.Expect(apiError(err)).NotTo(BeNil(), "%v", err)
			g.Expect(apiError(err).Code).To(Equal("MKT.9001"))
		})
	}
	t.Run("no orderId", func(t *testing.T) {
		resp := signedDo(t, http.MethodGet, srv.URL+koogallery.QueryOrderPath, "application/json", nil)
		NewWithT(t).Expect(resp.status).To(Equal(http.StatusBadRequest))
		NewWithT(t).Expect(string(resp.body)).To(ContainSubstring(`"resultCode":"MKT.0101"`))
	})
}

func TestRegisteredOrdersAreServedByQueryOrder(t *testing.T) {
	now := time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC)
	cfg := defaultServerConfig()
	cfg.now = func() time.Time { return now }
	srv := startSim(t, cfg)
	client := orderClient(srv.URL, defaultAccessKeyID, defaultSecretAccessKey)
	client.Signer.Now = cfg.now
	cases := []struct {
		name       string
		reg        orderRegistration
		wantType   string
		wantExpire string
		wantPeriod string
	}{
		{"three months", orderRegistration{OrderID: "SIMREG1", ProductID: "P1", SKUCode: "basic", ChargingMode: "PERIOD", PeriodType: "month", PeriodNumber: 3,
			Buyer: buyer{CustomerName: "alice", Email: "alice@example.com"}}, "NEW", "20260430235959", "month"},
		{"a trial of 7 days", orderRegistration{OrderID: "SIMREG2", OrderType: "TRIAL", ProductID: "P1", SKUCode: "basic", ChargingMode: "PERIOD", PeriodType: "day", PeriodNumber: 7},
			"TRIAL", "20260207235959", "day"},
		{"a renewal with its own expiry", orderRegistration{OrderID: "SIMREG3", OrderType: "RENEW", ProductID: "P1", SKUCode: "basic", ChargingMode: "PERIOD", PeriodType: "year", PeriodNumber: 1, ExpireTime: "20280131235959"},
			"RENEW", "20280131235959", "year"},
		{"pay-per-use has no period", orderRegistration{OrderID: "SIMREG4", ProductID: "P1", SKUCode: "meter", ChargingMode: "ON_DEMAND"}, "NEW", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(registerVia(t, srv.URL, tc.reg)).To(Succeed())
			order, err := client.QueryOrder(ctxFor(t), tc.reg.OrderID, firstLine(tc.reg.OrderID))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(order.OrderType).To(Equal(tc.wantType))
			g.Expect(order.CreateTime).To(Equal("20260131100000"))
			line, _ := order.Line(firstLine(tc.reg.OrderID))
			g.Expect(line.ExpireTime).To(Equal(tc.wantExpire))
			g.Expect(line.PeriodType).To(Equal(tc.wantPeriod))
			g.Expect(line.ProductInfo[0].SKUCode).To(Equal(tc.reg.SKUCode))
			g.Expect(order.BuyerInfo.CustomerName).To(Equal(tc.reg.Buyer.CustomerName))
			g.Expect(order.BuyerInfo.Email).To(Equal(tc.reg.Buyer.Email))
		})
	}

	t.Run("listed in registration order", func(t *testing.T) {
		g := NewWithT(t)
		resp := doWith(t, http.MethodGet, srv.URL+simOrdersPath, "", nil, nil)
		var list struct {
			Orders       []orderInfo `json:"orders"`
			MockOrderIDs []string    `json:"mockOrderIds"`
		}
		g.Expect(json.Unmarshal(resp.body, &list)).To(Succeed())
		ids := []string{}
		for _, o := range list.Orders {
			ids = append(ids, o.OrderID)
		}
		g.Expect(ids).To(Equal([]string{"SIMREG1", "SIMREG2", "SIMREG3", "SIMREG4"}))
		g.Expect(list.MockOrderIDs).To(HaveLen(9))
	})
}

// registerVia registers an order with the simulator's own client.
func registerVia(t *testing.T, base string, reg orderRegistration) error {
	t.Helper()
	sim, err := newSimClient(base)
	if err != nil {
		return err
	}
	return sim.register(ctxFor(t), reg)
}

func TestOrderRegistrationRefusesInvalidOrders(t *testing.T) {
	srv := startSim(t, defaultServerConfig())
	valid := orderRegistration{OrderID: "SIMX", ProductID: "P", SKUCode: "S", ChargingMode: "PERIOD", PeriodType: "year", PeriodNumber: 1}
	cases := []struct {
		name   string
		change func(*orderRegistration)
		want   string
	}{
		{"no orderId", func(r *orderRegistration) { r.OrderID = "" }, "HTTP 400"},
		{"unknown charging mode", func(r *orderRegistration) { r.ChargingMode = "MONTHLY" }, "chargingMode"},
		{"unknown period", func(r *orderRegistration) { r.PeriodType = "week" }, "periodType"},
		{"bad expiry", func(r *orderRegistration) { r.ExpireTime = "2026-01-01" }, "expireTime"},
		{"a mock order ID", func(r *orderRegistration) { r.OrderID = "MOCKPERIODYEARNEW" }, "HTTP 409"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg := valid
			tc.change(&reg)
			err := registerVia(t, srv.URL, reg)
			NewWithT(t).Expect(err).To(MatchError(ContainSubstring(tc.want)))
		})
	}
}

// Usage push vector U1 (§6.4), with the clock set to when it was made so
// its begin_time is inside the 21-day window.
const (
	u1Timestamp = "1660036200000"
	u1Nonce     = "3f1c9a7e-5b2d-4e8f-9a61-0c7d2e4b8f10"
	u1Body      = `{"usage_records":[{"begin_time":"20220809T080000Z","end_time":"20220809T090000Z","instance_id":"7f141bf1-aec8-4859-8323-fb3a8ad50721","metering_sn":"a1b2c3d4e5f6","record_time":"20220809T091000Z","usage_value":"99"}]}`
	u1Signature = "bYZqxO3R4WUhY1TsHgr25fsr1TsYZpFB1VABJZIWEGU="
)

// usageRecordJSON is one record at the U1 time with the given values.
func usageRecordJSON(sn, begin, value string) string {
	// An instance per metering_sn: these records share a period, which
	// records of one instance may not (010, spec §6.4).
	return fmt.Sprintf(`{"begin_time":%q,"end_time":"20220809T090000Z","instance_id":%q,"metering_sn":%q,"record_time":"20220809T091000Z","usage_value":%q}`,
		begin, "i-"+sn, sn, value)
}

// usageBody wraps records in a usage push body.
func usageBody(records ...string) string {
	return `{"usage_records":[` + strings.Join(records, ",") + `]}`
}

// pushUsage posts body with the usage headers signed with key (nil
// headers: none), plus AK/SK when aksk is set.
func pushUsage(t *testing.T, base, key, body string, aksk *koogallery.Signer) rawResponse {
	t.Helper()
	return doWith(t, http.MethodPost, base+usageDataPath, "application/json", []byte(body), func(req *http.Request) {
		if key != "" {
			ts, nonce := "1660036200000", newNonce()
			req.Header.Set("ts", ts)
			req.Header.Set("nonce", nonce)
			req.Header.Set("signature", koogallery.SignUsagePush(key, ts, nonce, []byte(body)))
		}
		if aksk != nil {
			NewWithT(t).Expect(aksk.Sign(req, []byte(body))).To(Succeed())
		}
	})
}

func TestUsagePushRecordsWhatItGetsAndEnforcesTheRules(t *testing.T) {
	cfg := defaultServerConfig()
	cfg.now = func() time.Time { return time.Date(2022, 8, 9, 10, 0, 0, 0, time.UTC) }
	srv := startSim(t, cfg)
	goodAKSK := &koogallery.Signer{AccessKeyID: defaultAccessKeyID, SecretAccessKey: defaultSecretAccessKey, Now: cfg.now}
	badAKSK := &koogallery.Signer{AccessKeyID: defaultAccessKeyID, SecretAccessKey: "wrong", Now: cfg.now}
	tooMany := make([]string, 1001)
	for i := range tooMany {
		tooMany[i] = usageRecordJSON(fmt.Sprintf("many-%d", i), "20220809T080000Z", "1")
	}

	t.Run("vector U1 as published", func(t *testing.T) {
		g := NewWithT(t)
		resp := doWith(t, http.MethodPost, srv.URL+usageDataPath, "application/json", []byte(u1Body), func(req *http.Request) {
			req.Header.Set("ts", u1Timestamp)
			req.Header.Set("nonce", u1Nonce)
			req.Header.Set("signature", u1Signature)
		})
		g.Expect(resp.status).To(Equal(http.StatusOK), string(resp.body))
		g.Expect(string(resp.body)).To(ContainSubstring(`"error_code":"MKT.0000"`))
		g.Expect(string(resp.body)).To(ContainSubstring(`"failed_records":[]`))
	})

	cases := []struct {
		name       string
		key        string
		aksk       *koogallery.Signer
		body       string
		wantStatus int
		wantBody   string
	}{
		{"signed with another key", "other-key", nil, usageBody(usageRecordJSON("sn-1", "20220809T080000Z", "1")), 400, `"MKT.0102"`},
		{"no signature headers", "", nil, usageBody(usageRecordJSON("sn-2", "20220809T080000Z", "1")), 400, `"MKT.0101"`},
		{"over 1000 records", defaultUsageKey, nil, usageBody(tooMany...), 400, `"MKT.9003"`},
		{"no records", defaultUsageKey, nil, usageBody(), 400, `"MKT.9002"`},
		{"begin_time 22 days old", defaultUsageKey, nil, usageBody(usageRecordJSON("sn-3", "20220718T080000Z", "1")), 400, `"MKT.9004"`},
		{"AK/SK sent but wrong", defaultUsageKey, badAKSK, usageBody(usageRecordJSON("sn-4", "20220809T080000Z", "1")), 401, `"APIG.0301"`},
		{"AK/SK sent and right", defaultUsageKey, goodAKSK, usageBody(usageRecordJSON("sn-5", "20220809T080000Z", "1.5")), 200, `"failed_records":[]`},
		{"duplicate metering_sn", defaultUsageKey, nil, usageBody(usageRecordJSON("a1b2c3d4e5f6", "20220809T080000Z", "1")), 200, `{"metering_sn":"a1b2c3d4e5f6","result_code":"005"`},
		{"duplicate within one push", defaultUsageKey, nil, usageBody(usageRecordJSON("sn-6", "20220809T080000Z", "1"), usageRecordJSON("sn-6", "20220809T080000Z", "2")), 200, `{"metering_sn":"sn-6","result_code":"005"`},
		{"zero usage", defaultUsageKey, nil, usageBody(usageRecordJSON("sn-7", "20220809T080000Z", "0.0")), 200, `"result_code":"003"`},
		{"five decimals", defaultUsageKey, nil, usageBody(usageRecordJSON("sn-8", "20220809T080000Z", "1.00001")), 200, `"result_code":"003"`},
		{"bad time format", defaultUsageKey, nil, usageBody(usageRecordJSON("sn-9", "2022-08-09 08:00:00", "1")), 200, `"result_code":"002"`},
		{"missing metering_sn", defaultUsageKey, nil, usageBody(usageRecordJSON("", "20220809T080000Z", "1")), 200, `"result_code":"004"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			resp := pushUsage(t, srv.URL, tc.key, tc.body, tc.aksk)
			g.Expect(resp.status).To(Equal(tc.wantStatus), string(resp.body))
			g.Expect(string(resp.body)).To(ContainSubstring(tc.wantBody))
		})
	}

	t.Run("the accepted records can be read back", func(t *testing.T) {
		g := NewWithT(t)
		var list struct {
			Records []usageRecord `json:"records"`
		}
		g.Expect(json.Unmarshal(doWith(t, http.MethodGet, srv.URL+simUsagePath, "", nil, nil).body, &list)).To(Succeed())
		sns := []string{}
		for _, r := range list.Records {
			sns = append(sns, r.MeteringSN)
		}
		g.Expect(sns).To(Equal([]string{"a1b2c3d4e5f6", "sn-5", "sn-6"}))
		g.Expect(list.Records[0].InstanceID).To(Equal("7f141bf1-aec8-4859-8323-fb3a8ad50721"))
		g.Expect(list.Records[0].UsageValue).To(Equal("99"))
	})
}

// uploadBody builds a multipart licence upload in one of the two layouts.
func uploadBody(t *testing.T, layout string, req uploadRequest, file []byte) (string, []byte) {
	t.Helper()
	g := NewWithT(t)
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	switch layout {
	case layoutJSONPart:
		data, err := json.Marshal(req)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(mw.WriteField(uploadPart, string(data))).To(Succeed())
	case layoutFields:
		for name, value := range map[string]string{"type": req.Type, "characters": req.Characters, "file_name": req.FileName, "sha256": req.SHA256} {
			if value != "" {
				g.Expect(mw.WriteField(name, value)).To(Succeed())
			}
		}
	}
	if file != nil {
		w, err := mw.CreateFormFile("file", req.FileName)
		g.Expect(err).NotTo(HaveOccurred())
		_, err = w.Write(file)
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(mw.Close()).To(Succeed())
	return mw.FormDataContentType(), buf.Bytes()
}

// sha256Hex is the hex SHA-256 of s.
func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestLicenseUploadRecordsWhatItGetsAndChecksIt(t *testing.T) {
	srv := startSim(t, defaultServerConfig())
	const licence = "LICENSE-KEY-0123456789"
	cases := []struct {
		name       string
		eventID    string
		layout     string
		req        uploadRequest
		file       []byte
		unsigned   bool
		wantStatus int
		wantBody   string
	}{
		{"characters in a JSON part", "EV1", layoutJSONPart, uploadRequest{Type: "CHARACTERS", Characters: licence, SHA256: sha256Hex(licence)}, nil, false, 200, "MKT.0000"},
		{"a file with form fields", "EV2", layoutFields, uploadRequest{Type: "FILE", FileName: "app.lic", SHA256: strings.ToUpper(sha256Hex(licence))}, []byte(licence), false, 200, "MKT.0000"},
		{"sha256 of something else", "EV3", layoutJSONPart, uploadRequest{Type: "CHARACTERS", Characters: licence, SHA256: sha256Hex("other")}, nil, false, 400, "sha256 does not match"},
		{"unknown type", "EV4", layoutJSONPart, uploadRequest{Type: "TEXT", Characters: licence, SHA256: sha256Hex(licence)}, nil, false, 400, "type must be"},
		{"FILE without a file", "EV5", layoutFields, uploadRequest{Type: "FILE", SHA256: sha256Hex(licence)}, nil, false, 400, "part named file"},
		{"not signed", "EV6", layoutJSONPart, uploadRequest{Type: "CHARACTERS", Characters: licence, SHA256: sha256Hex(licence)}, nil, true, 401, "APIG.0301"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			contentType, body := uploadBody(t, tc.layout, tc.req, tc.file)
			target := srv.URL + strings.Replace(licenseUploadPath, "{event_id}", tc.eventID, 1)
			var resp rawResponse
			if tc.unsigned {
				resp = doWith(t, http.MethodPost, target, contentType, body, nil)
			} else {
				resp = signedDo(t, http.MethodPost, target, contentType, body)
			}
			g.Expect(resp.status).To(Equal(tc.wantStatus), string(resp.body))
			g.Expect(string(resp.body)).To(ContainSubstring(tc.wantBody))
		})
	}

	t.Run("the accepted uploads can be read back", func(t *testing.T) {
		g := NewWithT(t)
		var list struct {
			Uploads []licenseUpload `json:"uploads"`
		}
		g.Expect(json.Unmarshal(doWith(t, http.MethodGet, srv.URL+simUploadsPath, "", nil, nil).body, &list)).To(Succeed())
		g.Expect(list.Uploads).To(HaveLen(2))
		g.Expect(list.Uploads[0]).To(MatchFields(IgnoreExtras, Fields{
			"EventID": Equal("EV1"), "Type": Equal("CHARACTERS"), "Layout": Equal(layoutJSONPart), "Characters": Equal(licence),
		}))
		g.Expect(list.Uploads[1]).To(MatchFields(IgnoreExtras, Fields{
			"EventID": Equal("EV2"), "Type": Equal("FILE"), "Layout": Equal(layoutFields), "FileName": Equal("app.lic"), "Size": Equal(len(licence)),
		}))
	})
}

func TestUnknownPathsAnswerJSON(t *testing.T) {
	g := NewWithT(t)
	srv := startSim(t, defaultServerConfig())
	resp := doWith(t, http.MethodGet, srv.URL+"/api/nothing", "", nil, nil)
	g.Expect(resp.status).To(Equal(http.StatusNotFound))
	g.Expect(json.Valid(resp.body)).To(BeTrue())
}

func TestPeriodEndAddsCalendarPeriodsAndClampsTheDay(t *testing.T) {
	cases := []struct {
		name       string
		bought     time.Time
		periodType string
		n          int
		want       string
	}{
		{"the sample's year", time.Date(2024, 11, 21, 9, 8, 46, 0, time.UTC), "year", 1, "20251121235959"},
		{"31 January plus a month", time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC), "month", 1, "20260228235959"},
		{"31 January plus a month in a leap year", time.Date(2028, 1, 31, 10, 0, 0, 0, time.UTC), "month", 1, "20280229235959"},
		{"29 February plus a year", time.Date(2028, 2, 29, 10, 0, 0, 0, time.UTC), "year", 1, "20290228235959"},
		{"November plus three months", time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC), "month", 3, "20270228235959"},
		{"seven days", time.Date(2026, 12, 28, 10, 0, 0, 0, time.UTC), "day", 7, "20270104235959"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(periodEnd(tc.bought, tc.periodType, tc.n)).To(Equal(tc.want))
		})
	}
}

// kooper's own upload client (koogallery.Client.UploadLicense) must be
// accepted as the licence controller sends it.
func TestKooperUploadClientIsAccepted(t *testing.T) {
	g := NewWithT(t)
	cfg := defaultServerConfig()
	srv := startSim(t, cfg)
	client := koogallery.NewClient(cfg.accessKeyID, cfg.secretAccessKey, srv.URL)
	g.Expect(client.UploadLicense(ctxFor(t), "EV-kooper", "kl1.payload.signature")).To(Succeed())
	var list struct {
		Uploads []licenseUpload `json:"uploads"`
	}
	g.Expect(json.Unmarshal(doWith(t, http.MethodGet, srv.URL+simUploadsPath+"?eventId=EV-kooper", "", nil, nil).body, &list)).To(Succeed())
	g.Expect(list.Uploads).To(HaveLen(1))
	g.Expect(list.Uploads[0].Characters).To(Equal("kl1.payload.signature"))
	g.Expect(list.Uploads[0].Layout).To(Equal(layoutJSONPart))
}
