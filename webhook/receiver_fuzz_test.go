package webhook

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/cleanpath"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// FuzzLicenseWindow: getLicenseAsync's window comes from the marketplace. A
// window that is refused is 000002 naming no value; one that is accepted
// is one a License stores as sent, at whole seconds, start before end.
func FuzzLicenseWindow(f *testing.F) {
	for _, seed := range [][2]string{
		{"2023-10-27 10:30:15 z", "2024-10-27 10:30:15 z"},
		{"2023-10-27 10:30:15 z", ""},
		{"2026-11-22T10:30:15.9Z", "2026-11-22T10:30:16.1Z"},
		{"2026-11-22 10:30:15 z", "2026-11-22T18:30:15+08:00"},
		{"0000-01-01T00:00:00+01:00", "2027-01-01 00:00:00 z"},
		{"0001-01-01 00:00:01 z", "9999-12-31 23:59:59 z"},
		{"2026-01-01 00:00:00 z", "9999-12-31T23:59:59-05:00"},
		{"", "2024-10-27 10:30:15 z"},
		{"13812345678", "alice@example.com"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, effective, expire string) {
		notBefore, notAfter, err := licenseWindow(&koogallery.GetLicenseAsyncRequest{EffectiveTime: effective, ExpireTime: expire})
		if err != nil {
			code, msg := codeAndMessage(err)
			if code != koogallery.ResultInvalidParam || !slices.Contains(licenseWindowRefusals, msg) {
				t.Fatalf("(%q, %q) refused with %s %q, not 000002 naming only the field", effective, expire, code, msg)
			}
			return
		}
		if (notAfter == nil) != (expire == "") {
			t.Fatalf("(%q, %q): an end of %v", effective, expire, notAfter)
		}
		storable(t, notBefore)
		if notAfter != nil {
			storable(t, notAfter.Time)
			if !notBefore.Before(notAfter.Time) {
				t.Fatalf("(%q, %q): the window %s to %s is empty", effective, expire, notBefore, notAfter)
			}
		}
	})
}

// licenseWindowRefusals are the messages a window is refused with: they
// name the fields, never the values, which may be anything
// (docs/personal-data.md).
var licenseWindowRefusals = []string{
	"effectiveTime is not a time like 2023-10-27 10:30:15 z",
	"expireTime is not a time like 2023-10-27 10:30:15 z",
	"effectiveTime must be after 0001-01-01 00:00:00 z and before the year 10000",
	"expireTime must be after 0001-01-01 00:00:00 z and before the year 10000",
	"expireTime must be later than effectiveTime",
}

// codeAndMessage is the result code and message the receiver answers err with.
func codeAndMessage(err error) (koogallery.ResultCode, string) {
	rep := settle(reply{}, err)
	return rep.code, rep.msg
}

// storable fails t unless a License stores tm as it is: UTC, whole seconds,
// not the zero time (stored as null), and read back from JSON unchanged.
func storable(t *testing.T, tm time.Time) {
	t.Helper()
	if tm.Location() != time.UTC || !tm.Equal(tm.Truncate(time.Second)) || !tm.After(time.Time{}) || tm.Year() > 9999 {
		t.Fatalf("%s cannot be stored as it is", tm)
	}
	raw, err := json.Marshal(metav1.Time{Time: tm})
	if err != nil {
		t.Fatalf("%s does not encode: %v", tm, err)
	}
	var back metav1.Time
	if err := json.Unmarshal(raw, &back); err != nil || !back.Time.Equal(tm) {
		t.Fatalf("%s is stored as %s and read back as %s (%v)", tm, raw, back, err)
	}
}

// resultCodeForm is a result code: six digits (spec §5).
var resultCodeForm = regexp.MustCompile(`^[0-9]{6}$`)

// FuzzReceiver sends fuzzed requests through the receiver's whole handler,
// as net/http hands them over: the query string, headers and body of a
// basic callback or a kit call, to a product that exists or not. With sign
// set the request is signed with the product's key, now, with a fresh
// nonce, so a fuzzed body gets past verification into the decoders and the
// handlers. Every request that net/http parses is answered HTTP 200 with a
// JSON result code, never after a panic (answered "internal error").
func FuzzReceiver(f *testing.F) {
	seedReceiver(f)
	handler := receiver.Handler()
	var saas, licence *fixture
	var bought map[*fixture][]byte
	f.Fuzz(func(t *testing.T, kit, sign, toLicence bool, productName, iface, query, headers string, body []byte) {
		if saas == nil { // one product of each type, and an instance of each, for every input this process runs
			saas, licence = newKitFixture(t), newProductFixture(t, saasv1alpha1.ProductTypeLicense)
			saasID, _ := saas.buy(t)
			licenceID, _ := licence.buy(t)
			bought = map[*fixture][]byte{saas: []byte(saasID), licence: []byte(licenceID)}
		}
		product := saas
		if toLicence {
			product = licence
		}
		if productName == "" {
			productName = product.product.Name
		}
		// The spec's instance IDs become one that exists, so the spec's
		// requests reach the instance's handling.
		body = bytes.ReplaceAll(body, []byte(specInstanceID), bought[product])
		req := fuzzedRequest(t, kit, productName, iface, query, headers, body)
		if req == nil {
			return // net/http answers 400 itself; the handler never sees it
		}
		if sign {
			signFuzzed(req, kit, body)
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if strings.HasSuffix(cleanpath.Clean(req.URL.EscapedPath()), "/licenses/revoked") {
			return // the revocation list answers as its own contract says
		}
		checkAnswer(t, rec)
	})
}

// specInstanceID is the instance ID of the spec's examples (§3.4-§3.7).
const specInstanceID = "10e758d0-31ad-4c4b-8f1b-81d03469a10e"

// seedReceiver adds the spec's requests (§2.1.3, §3, §3.11) as seeds.
func seedReceiver(f *testing.F) {
	basic := []string{
		`{"activity":"newInstance","orderId":"CS2211181819B4LVS","orderLineId":"CS2211181819B4LVS-000001","businessId":"87b94795-0603-4e24-8ae5-69420d60e3c8","testFlag":"1"}`,
		`{"activity":"upgradeInstance","instanceId":"10e758d0-31ad-4c4b-8f1b-81d03469a10e","orderId":"CS2211181819B4LVS","orderLineId":"CS2211181819B4LVS-000001","testFlag":"0"}`,
		`{"activity":"refreshInstance","scene":"RENEWAL","orderId":"CS2211181819B4LVS","orderLineId":"CS2211181819B4LVS-000001","instanceId":"10e758d0-31ad-4c4b-8f1b-81d03469a10e","expireTime":"20221124023618256","testFlag":"1"}`,
		`{"activity":"updateInstanceStatus","instanceId":"10e758d0-31ad-4c4b-8f1b-81d03469a10e","status":"FREEZE","testFlag":"1"}`,
		`{"activity":"getLicenseAsync","eventId":"8e5694c8","instanceId":"10e758d0-31ad-4c4b-8f1b-81d03469a10e","effectiveTime":"2023-10-27 10:30:15 z","expireTime":"2024-10-27 10:30:15 z","deviceFingerprint":"86034e260e1"}`,
		`{"activity":"queryInstance","instanceId":"10e758d0-31ad-4c4b-8f1b-81d03469a10e","testFlag":"0"}`,
		`{"activity":"orderNotify","orderId":"CS2211181819B4LVS","orderLineId":"CS2211181819B4LVS-000001","testFlag":"0"}`,
	}
	const query = "signature=b0bd6aa8d5a2a4c4b1ac20a9f7d23bbd4c1b9c2a0e4de5a5e57a0d7e0a2d6e4e&timestamp=1669102425000&nonce=3F2504E04F8911D39A0C0305E82C3301"
	for _, body := range basic {
		licence := strings.Contains(body, "getLicenseAsync")
		f.Add(false, true, licence, "", "", query, "Content-Type: application/json;charset=utf8", []byte(body))
		f.Add(false, false, licence, "", "", query, "", []byte(body))
	}
	kit := map[string]string{
		"tenantSync":      `{"instanceId":"huaiweitest123456","orderId":"CS1906666666ABCDE","tenantId":"68cbc86f5b8e4d2f9d0a880d92f36422","tenantCode":"huawei","name":"huaiweitest","domainName":"https://example.tenantaccount.com","flag":1,"testFlag":0,"timeStamp":"20220413093539534"}`,
		"applicationSync": `{"instanceId":"huaiweitest123456","tenantId":"68cbc86f5b8e4d2f9d0a880d92f36422","appId":"app-1","clientId":"client-1","clientSecret":"AAAA","flag":1,"testFlag":0,"timeStamp":"20220413093539534"}`,
		"authSync":        `{"instanceId":"huaiweitest123456","tenantId":"68cbc86f5b8e4d2f9d0a880d92f36422","appId":"app-1","userList":[{"userName":"user00001","name":"User 1","orgCode":"d1","role":"user","enable":"true","employeeType":1}],"currentSyncTime":"20220413093539534","flag":1,"testFlag":0,"timeStamp":"20220413093539534"}`,
		"singleOrgSync":   `{"instanceId":"huaiweitest123456","tenantId":"68cbc86f5b8e4d2f9d0a880d92f36422","orgCode":"d1","orgName":"Dept 1","parentCode":"","flag":1,"testFlag":0,"timeStamp":"20220413093539534"}`,
		"allOrgSync":      `{"instanceId":"huaiweitest123456","tenantId":"68cbc86f5b8e4d2f9d0a880d92f36422","orgInfoList":[{"orgCode":"d1","orgName":"Dept 1","parentCode":""}],"testFlag":0,"timeStamp":"20220413093539534"}`,
	}
	for name, body := range kit {
		f.Add(true, true, false, "", name, "", "Content-Type: application/json", []byte(body))
		f.Add(true, false, false, "", name, "", "X-Sign: abc\nX-Timestamp: 1669102425000\nX-Nonce: n", []byte(body))
	}
	f.Add(false, false, false, "no-such-product", "", "", "", []byte(`{}`))
	f.Add(true, false, false, "", "unknownSync", "", "", []byte(`{}`))
	f.Add(false, false, false, "x/licenses/revoked", "", "", "", []byte(``))
	f.Add(false, false, false, "", "", "%zz&signature=%", "Transfer-Encoding: chunked", []byte("5\r\n{\"a\":\r\n0\r\n\r\n"))
}

// fuzzedRequest is the request net/http makes of the fuzzed parts, or nil
// where it would refuse them.
func fuzzedRequest(t *testing.T, kit bool, productName, iface, query, headers string, body []byte) *http.Request {
	t.Helper()
	target := CallbackPathPrefix + productName
	if kit {
		target += koogallery.KitPathPrefix + iface
	}
	if query != "" {
		target += "?" + query
	}
	var raw bytes.Buffer
	raw.WriteString("POST " + target + " HTTP/1.1\r\nHost: kooper.example.com\r\n")
	for _, line := range strings.Split(headers, "\n") {
		if line = strings.TrimSuffix(line, "\r"); line != "" {
			raw.WriteString(line + "\r\n")
		}
	}
	if !strings.Contains(strings.ToLower(headers), "transfer-encoding") {
		raw.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	raw.WriteString("\r\n")
	raw.Write(body)
	req, err := http.ReadRequest(bufio.NewReader(&raw))
	if err != nil {
		return nil
	}
	req.RemoteAddr = "192.0.2.10:40000"
	return req
}

// signFuzzed signs req's body as the marketplace (basic) or the kit does,
// when the body canonicalises at all.
func signFuzzed(req *http.Request, kit bool, body []byte) {
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	nonce := randomNonce()
	if kit {
		if canonical, err := koogallery.CanonicalKitPayload(body); err == nil {
			req.Header.Set(kitSignHeader, koogallery.SignKit(testKitKey, nonce, ts, canonical))
			req.Header.Set(kitTimestampHeader, ts)
			req.Header.Set(kitNonceHeader, nonce)
		}
		return
	}
	canonical, err := koogallery.CanonicalPayload(body)
	if err != nil {
		return
	}
	q, _ := url.ParseQuery(req.URL.RawQuery)
	q.Set("signature", koogallery.SignBasic(testKey, nonce, ts, canonical))
	q.Set("timestamp", ts)
	q.Set("nonce", nonce)
	req.URL.RawQuery = q.Encode()
}

// checkAnswer fails t unless rec holds the receiver's answer: HTTP 200,
// JSON, a result code, and not the answer of a recovered panic.
func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q: %s", ct, rec.Body)
	}
	var a struct {
		Code *string `json:"resultCode"`
		Msg  string  `json:"resultMsg"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || a.Code == nil || !resultCodeForm.MatchString(*a.Code) {
		t.Fatalf("not a JSON answer with a result code (%v): %s", err, rec.Body)
	}
	if a.Msg == "internal error; please retry" {
		t.Fatalf("an internal error, a panic's answer: %s", rec.Body)
	}
}
