package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// Paths of the marketplace's open APIs (§6.3, §6.4, §6.6) and of the
// simulator's own endpoints.
const (
	usageDataPath     = "/api/mkp-openapi-public/global/v1/isv/usage-data"
	licenseUploadPath = "/api/mkp-openapi-public/global/v1/market-event/{event_id}/file"
	simOrdersPath     = "/sim/orders"
	simUsagePath      = "/sim/usage"
	simRefusalsPath   = "/sim/usage/refusals"
	simOutagePath     = "/sim/usage/outage"
	simWindowsPath    = "/sim/usage/windows"
	simUploadsPath    = "/sim/uploads"
)

// Documentation example credentials of the API Gateway signing guide
// (§6.1, vector A1); kooper's sample keys Secret uses them too.
const (
	defaultAccessKeyID     = "QTWAOYTTINDUT2QVKYUC"
	defaultSecretAccessKey = "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc"
	// defaultUsageKey is the key of the spec's vectors, which the usage
	// push signs with by assumption (§6.4, §8 item 19).
	defaultUsageKey = "test-access-key"
)

// apigMaxSkew is how far X-Sdk-Date may be from now; API Gateway allows 15
// minutes.
const apigMaxSkew = 15 * time.Minute

// Caps that keep a long-running simulator's memory bounded.
const (
	maxRegisteredOrders = 10_000
	maxUsageRecords     = 100_000
	maxUploads          = 1_000
	maxRegistrationBody = 64 << 10
	maxUsageBody        = 4 << 20
	maxUploadBody       = 16 << 20
)

// serverConfig configures the simulator's HTTP side.
type serverConfig struct {
	// accessKeyID and secretAccessKey are the AK/SK requests must be signed
	// with.
	accessKeyID, secretAccessKey string
	// usageKey keys the usage push's signature header.
	usageKey string
	// usageMaxRecords is the most records one usage push may carry
	// (usagePushLimit); 0 is the API page's 1000.
	usageMaxRecords int
	// now is the clock; nil means time.Now. Tests fix it.
	now func() time.Time
	// log receives one line per request; nil discards them.
	log io.Writer
	// sso configures the kit's OAuth server (kitsso.go).
	sso ssoConfig
}

// defaultServerConfig accepts the documentation example credentials.
func defaultServerConfig() serverConfig {
	return serverConfig{accessKeyID: defaultAccessKeyID, secretAccessKey: defaultSecretAccessKey, usageKey: defaultUsageKey, sso: defaultSSOConfig()}
}

// simServer is the marketplace's side of the open APIs, with state in memory.
type simServer struct {
	cfg   serverConfig
	mocks map[string]orderInfo
	logMu sync.Mutex

	mu     sync.Mutex
	orders map[string]orderInfo
	// orderSeq keeps GET /sim/orders in registration order.
	orderSeq []string
	usage    []usageRecord
	metering map[string]bool
	// duplicates counts, per stored metering_sn, the later pushes of it.
	duplicates map[string]int
	// periods are, per instance, the periods of its stored records,
	// sorted by begin and disjoint: a record whose period overlaps one of
	// them is a duplicate record (010).
	periods map[string][]usagePeriod
	outage  outageState
	// refusals are injected per-record errors, consumed in order.
	refusals []usageRefusal
	uploads  []licenseUpload
	// outageUntil is when an injected Query Order outage ends; zero: none.
	outageUntil time.Time
	// queryOrderCalls are the Query Order calls received, oldest first.
	queryOrderCalls []queryOrderCall
}

// newSimServer returns the simulator's handler: Query Order, the usage push
// and the licence upload as the marketplace serves them, plus /sim/
// endpoints to register orders and read what was received. Other packages'
// tests can serve it with httptest.
func newSimServer(cfg serverConfig) http.Handler {
	if cfg.now == nil {
		cfg.now = time.Now
	}
	if cfg.log == nil {
		cfg.log = io.Discard
	}
	if cfg.sso.clientID == "" {
		cfg.sso = defaultSSOConfig()
	}
	s := &simServer{cfg: cfg, mocks: mockOrders(), orders: map[string]orderInfo{}, metering: map[string]bool{}, duplicates: map[string]int{},
		periods: map[string][]usagePeriod{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+koogallery.QueryOrderPath, s.queryOrder)
	mux.HandleFunc("POST "+usageDataPath, s.usageData)
	mux.HandleFunc("POST "+licenseUploadPath, s.licenseUpload)
	mux.HandleFunc("POST "+simOrdersPath, s.registerOrder)
	mux.HandleFunc("GET "+simOrdersPath, s.listOrders)
	mux.HandleFunc("GET "+simUsagePath, s.listUsage)
	mux.HandleFunc("POST "+simRefusalsPath, s.registerRefusal)
	mux.HandleFunc("POST "+simOutagePath, s.setOutage)
	mux.HandleFunc("GET "+simOutagePath, s.getOutage)
	mux.HandleFunc("GET "+simWindowsPath, s.listWindows)
	mux.HandleFunc("GET "+simUploadsPath, s.listUploads)
	mux.HandleFunc("POST "+simQueryOrderOutagePath, s.startOutage)
	mux.HandleFunc("DELETE "+simQueryOrderOutagePath, s.clearOutage)
	mux.HandleFunc("GET "+simQueryOrderOutagePath, s.getQueryOrderOutage)
	mux.HandleFunc("GET "+simQueryOrderCallsPath, s.listQueryOrderCalls)
	newSSOServer(cfg.sso, cfg.now, func(r *http.Request, status int, detail string) { s.logRequest(r, status, "", detail) }).register(mux)
	mux.HandleFunc("/", s.notFound)
	return mux
}

// openAPIError is the error envelope of the usage push, the upload and API
// Gateway (§6.2, §6.7).
type openAPIError struct {
	ErrorCode string `json:"error_code"`
	ErrorMsg  string `json:"error_msg"`
}

// reply writes v as JSON with status and logs one line: method, path,
// status, code and a detail that never holds a key or signature.
func (s *simServer) reply(w http.ResponseWriter, r *http.Request, status int, code string, v any, detail string) {
	data, err := json.Marshal(v)
	if err != nil {
		status, code = http.StatusInternalServerError, "MKT.0999"
		data = []byte(`{"error_code":"MKT.0999","error_msg":"the simulator could not encode its answer"}`)
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(data)
	s.logRequest(r, status, code, detail)
}

// logRequest writes one log line.
func (s *simServer) logRequest(r *http.Request, status int, code, detail string) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	line := fmt.Sprintf("%s %s %s -> %d %s", s.cfg.now().UTC().Format(time.RFC3339), r.Method, r.URL.Path, status, code)
	if detail != "" {
		line += ": " + detail
	}
	fmt.Fprintln(s.cfg.log, line)
}

// replyError writes an error_code/error_msg answer.
func (s *simServer) replyError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	s.reply(w, r, status, code, openAPIError{ErrorCode: code, ErrorMsg: msg}, msg)
}

// notFound answers every unknown path with JSON, like a gateway does.
func (s *simServer) notFound(w http.ResponseWriter, r *http.Request) {
	s.replyError(w, r, http.StatusNotFound, "APIG.0101", "the API does not exist or has not been published")
}

// authenticate checks the AK/SK signature the way API Gateway does (§6.1)
// and answers 401 APIG.0301 when it fails. body is the exact request body.
func (s *simServer) authenticate(w http.ResponseWriter, r *http.Request, body []byte) bool {
	lookup := func(ak string) (string, bool) {
		if ak != s.cfg.accessKeyID {
			return "", false
		}
		return s.cfg.secretAccessKey, true
	}
	if err := koogallery.VerifyAPIGSignature(r, body, lookup, s.cfg.now(), apigMaxSkew); err != nil {
		// VerifyAPIGSignature's errors never contain a key or a signature.
		s.replyError(w, r, http.StatusUnauthorized, "APIG.0301", "Incorrect IAM authentication information: "+err.Error())
		return false
	}
	return true
}

// readBody reads at most limit bytes and answers 413 beyond that.
func (s *simServer) readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.replyError(w, r, http.StatusRequestEntityTooLarge, "MKT.0101", fmt.Sprintf("the body exceeds %d bytes", limit))
			return nil, false
		}
		s.replyError(w, r, http.StatusBadRequest, "MKT.0101", "the body could not be read")
		return nil, false
	}
	return body, true
}
