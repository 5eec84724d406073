package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// This file is the simulator's own implementation of the joint-operation
// kit calls (spec §2.2, §3.11) and of the RSA-OAEP encryption of clientSecret
// (§4.2). Like sign.go it does not use internal/koogallery, so a bug there
// cannot make both sides agree.

// Environment variables of the kit flags.
const (
	envKitKey       = "KOOPER_SIM_KIT_KEY"
	envKitPublicKey = "KOOPER_SIM_KIT_PUBLIC_KEY"
)

// kitPath is what the marketplace appends to the production URL.
const kitPath = "/produceAPI/v2/"

// The kit interfaces.
var kitInterfaces = []string{"tenantSync", "applicationSync", "authSync", "singleOrgSync", "allOrgSync"}

// kitFlags are the flags of the kit command and of conformance.
type kitFlags struct {
	key       string
	publicKey string
	oaep      string
}

func (f *kitFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&f.key, "kit-key", "", "joint-operation sync (kit) key; never printed (default $"+envKitKey+")")
	fs.StringVar(&f.publicKey, "kit-public-key", "", "file with the merchant's RSA public key (PEM or Base64 DER), to encrypt clientSecret (default $"+envKitPublicKey+")")
	fs.StringVar(&f.oaep, "kit-oaep", "sha256-mgf1-sha1", "OAEP variant the simulated marketplace encrypts with: sha256, sha256-mgf1-sha1 (Java's default for OAEPWithSHA-256AndMGF1Padding) or sha1")
}

// kitSender sends kit calls to a production URL.
type kitSender struct {
	m      *marketplace
	key    string
	public *rsa.PublicKey // nil when no public key was given
	oaep   *rsa.OAEPOptions
}

// sender fills the flags from the environment and returns a kitSender, or
// nil when no kit key is configured.
func (f *kitFlags) sender(c *cli, m *marketplace) (*kitSender, error) {
	if f.key == "" {
		f.key = c.getenv(envKitKey)
	}
	if f.publicKey == "" {
		f.publicKey = c.getenv(envKitPublicKey)
	}
	if f.key == "" {
		return nil, nil
	}
	s := &kitSender{m: m, key: f.key}
	var err error
	if s.oaep, err = oaepOptions(f.oaep); err != nil {
		return nil, err
	}
	if f.publicKey != "" {
		if s.public, err = readPublicKey(f.publicKey); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func oaepOptions(name string) (*rsa.OAEPOptions, error) {
	switch name {
	case "sha256":
		return &rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA256}, nil
	case "sha256-mgf1-sha1":
		return &rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA1}, nil
	case "sha1":
		return &rsa.OAEPOptions{Hash: crypto.SHA1, MGFHash: crypto.SHA1}, nil
	}
	return nil, usagef("--kit-oaep must be sha256, sha256-mgf1-sha1 or sha1, not %q", name)
}

// readPublicKey reads a PEM or Base64 DER SubjectPublicKeyInfo RSA key.
func readPublicKey(file string) (*rsa.PublicKey, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("failed to read --kit-public-key: %w", err)
	}
	der := []byte(nil)
	if block, _ := pem.Decode(data); block != nil {
		der = block.Bytes
	} else if der, err = base64.StdEncoding.DecodeString(strings.TrimSpace(string(data))); err != nil {
		return nil, errors.New("--kit-public-key is neither PEM nor Base64 DER")
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("--kit-public-key: %w", err)
	}
	rsaPub, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("--kit-public-key is not an RSA key")
	}
	return rsaPub, nil
}

// encrypt is the marketplace's side of §4.2: RSA-OAEP, standard Base64.
func (s *kitSender) encrypt(secret string) (string, error) {
	if s.public == nil {
		return "", usagef("--kit-public-key (or $%s) is required to send a clientSecret", envKitPublicKey)
	}
	raw, err := rsa.EncryptOAEPWithOptions(rand.Reader, s.public, []byte(secret), s.oaep)
	if err != nil {
		return "", fmt.Errorf("failed to encrypt clientSecret: %w", err)
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

// kitRequest is one kit call ready to send.
type kitRequest struct {
	name    string
	headers http.Header
	body    []byte
	// path, when set, is sent instead of the production URL plus the kit
	// sub-path.
	path string
}

// sign signs b as §2.2 says: HMAC-SHA256 keyed with the kit key over
// key + nonce + timestamp + the canonical payload, no inner hash.
func (s *kitSender) sign(name string, b callbackBody, key string) (kitRequest, error) {
	wire, err := b.wire()
	if err != nil {
		return kitRequest{}, fmt.Errorf("failed to encode the %s body: %w", name, err)
	}
	payload, err := b.canonical()
	if err != nil {
		return kitRequest{}, fmt.Errorf("failed to canonicalise the %s body: %w", name, err)
	}
	ts, nonce := strconv.FormatInt(s.m.now().UnixMilli(), 10), newNonce()
	h := http.Header{}
	h.Set("x-sign", hmacHex(key, append([]byte(key+nonce+ts), payload...)))
	h.Set("x-timestamp", ts)
	h.Set("x-nonce", nonce)
	return kitRequest{name: name, headers: h, body: wire}, nil
}

// send posts req to the production URL plus the kit sub-path.
func (s *kitSender) send(ctx context.Context, req kitRequest) (*answer, error) {
	target := *s.m.endpoint
	target.Path = strings.TrimRight(target.Path, "/") + kitPath + req.name
	if req.path != "" {
		target.Path, target.RawPath = req.path, ""
	}
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), bytes.NewReader(req.body))
	if err != nil {
		return nil, fmt.Errorf("failed to build the %s request: %w", req.name, err)
	}
	httpReq.Header = req.headers.Clone()
	httpReq.Header.Set("Content-Type", "application/json;charset=utf8")
	start := time.Now()
	resp, err := s.m.client.Do(httpReq)
	if err != nil {
		return nil, fmt.Errorf("failed to send %s to %s: %w", req.name, s.m.display(), stripURL(err))
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read the %s answer: %w", req.name, stripURL(err))
	}
	// Kit answers carry no Body-Sign; an empty key reports one as absent.
	return newAnswer(resp, raw, time.Since(start), ""), nil
}

// kitTimeStamp is the kit's timeStamp: yyyyMMddHHmmssSSS in UTC+8 (§3.11).
func kitTimeStamp(now time.Time) string {
	t := now.In(time.FixedZone("UTC+8", 8*3600))
	return t.Format("20060102150405") + fmt.Sprintf("%03d", t.Nanosecond()/1e6)
}

// kitBody starts a kit body with the members every call has; the integers
// are JSON numbers, as the kit sends them.
func kitBody(instanceID, tenantID string, members ...field) callbackBody {
	b := callbackBody{{"instanceId", instanceID}, {"tenantId", tenantID}}
	return append(b, members...)
}

// withKitTail adds the flag (unless negative), testFlag and timeStamp.
func withKitTail(b callbackBody, flag int, debug bool, now time.Time) callbackBody {
	if flag >= 0 {
		b = append(b, field{"flag", jsonNumber(strconv.Itoa(flag))})
	}
	testFlag := "0"
	if debug {
		testFlag = "1"
	}
	return append(b, field{"testFlag", jsonNumber(testFlag)}, field{"timeStamp", kitTimeStamp(now)})
}

// kitUsers makes count users numbered from first.
func kitUsers(first, count int) []callbackBody {
	users := make([]callbackBody, 0, count)
	for i := first; i < first+count; i++ {
		users = append(users, callbackBody{
			{"userName", fmt.Sprintf("sim.user%05d", i)}, {"name", fmt.Sprintf("Sim User %d", i)},
			{"orgCode", fmt.Sprintf("sim-d%d", i%5)}, {"role", "user"}, {"enable", "true"},
			{"email", fmt.Sprintf("sim.user%05d@example.com", i)}, {"employeeType", jsonNumber("1")},
		})
	}
	return users
}

// kitDepartments makes a root and count departments under it.
func kitDepartments(count int) []callbackBody {
	orgs := []callbackBody{{{"orgCode", "sim-root"}, {"orgName", "Simulated Enterprise"}}}
	for i := 0; i < count; i++ {
		orgs = append(orgs, callbackBody{{"orgCode", fmt.Sprintf("sim-d%d", i)}, {"orgName", fmt.Sprintf("Department %d", i)}, {"parentCode", "sim-root"}})
	}
	return orgs
}

// orgList is allOrgSync's orgInfoList: an array, or the array as a JSON
// string as in the doc example (§8 item 23).
func orgList(orgs []callbackBody, asString bool) (any, error) {
	if !asString {
		return orgs, nil
	}
	var out bytes.Buffer
	if err := writeJSONValue(&out, orgs); err != nil {
		return nil, err
	}
	return out.String(), nil
}
