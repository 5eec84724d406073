package koogallery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net/url"
	"strings"
)

// LicenseUploadPathPrefix and LicenseUploadPathSuffix frame the event ID in
// the path of the licence upload open API (§6.6). The prefix and the part's
// name are inferred (§8 item 26), so LicenseUploadSettings can replace them.
const (
	LicenseUploadPathPrefix = "/api/mkp-openapi-public/global/v1/market-event/"
	LicenseUploadPathSuffix = "/file"
	// LicenseUploadPart names the multipart part that carries the request.
	LicenseUploadPart = "isvUpdateFileReq"
	// LicenseTypeCharacters delivers the licence as a string.
	LicenseTypeCharacters = "CHARACTERS"
)

// licenseUploadRequest is the JSON of the isvUpdateFileReq part (§6.6).
type licenseUploadRequest struct {
	Type       string `json:"type"`
	Characters string `json:"characters"`
	SHA256     string `json:"sha256"`
}

// LicenseUploadSettings are the inferred parts of the licence upload (§8
// item 26): if the marketplace's differ, every upload fails and paid
// licences stay UploadFailed, so both can be set
// (--licence-upload-path-prefix, --licence-upload-part). An empty field is
// the default.
type LicenseUploadSettings struct {
	// PathPrefix comes before the escaped event ID and "/file";
	// LicenseUploadPathPrefix by default.
	PathPrefix string
	// Part names the multipart part that carries the request;
	// LicenseUploadPart by default.
	Part string
}

// CheckLicenseUploadPathPrefix reports whether prefix can begin the upload's
// path: an absolute path without a query, a fragment or spaces.
func CheckLicenseUploadPathPrefix(prefix string) error {
	if !strings.HasPrefix(prefix, "/") || strings.ContainsAny(prefix, "?# \t\r\n") {
		return fmt.Errorf("%.64q is not a path prefix: it must begin with / and hold no ?, #, or white space", prefix)
	}
	return nil
}

// CheckLicenseUploadPart reports whether part can name a multipart part: 1
// to 64 printable ASCII characters without quotes or white space.
func CheckLicenseUploadPart(part string) error {
	ok := part != "" && len(part) <= 64
	for _, c := range part {
		ok = ok && c > ' ' && c < 0x7f && c != '"' && c != '\\'
	}
	if !ok {
		return fmt.Errorf("%.64q is not a part name: 1 to 64 printable ASCII characters without quotes or white space", part)
	}
	return nil
}

// path is the upload's path for eventID.
func (s LicenseUploadSettings) path(eventID string) string {
	prefix := s.PathPrefix
	if prefix == "" {
		prefix = LicenseUploadPathPrefix
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return prefix + url.PathEscape(eventID) + LicenseUploadPathSuffix
}

// isDotSegment says whether s is "." or "..", which url.PathEscape leaves
// as they are: as an element of a path they name the directory or its
// parent (RFC 3986 §5.2.4), so the upload would go elsewhere.
func isDotSegment(s string) bool { return s == "." || s == ".." }

// part is the name of the part that carries the request.
func (s LicenseUploadSettings) part() string {
	if s.Part == "" {
		return LicenseUploadPart
	}
	return s.Part
}

// UploadLicense delivers the licence of a getLicenseAsync application as a
// string (type CHARACTERS, §6.6), to the path and in the part c.Upload
// names. The marketplace keys the upload by eventID, so sending the same
// licence again is harmless.
func (c *Client) UploadLicense(ctx context.Context, eventID, license string) error {
	settings := c.Upload
	if eventID == "" || license == "" {
		return errors.New("an event ID and a licence are required to upload a licence")
	}
	if isDotSegment(eventID) {
		// getLicenseAsync refuses such an event ID; one that reaches here
		// anyway (a stored licence) would upload to another path.
		return fmt.Errorf("the event ID %q cannot name an upload path", eventID)
	}
	body, contentType, err := licenseUploadBody(settings.part(), license)
	if err != nil {
		return err
	}
	r := apiCall{method: "POST", path: settings.path(eventID), contentType: contentType, body: body}
	var answer openAPIResult
	if err := c.do(ctx, r, &answer); err != nil {
		return fmt.Errorf("failed to upload the licence of event %s: %w", eventID, err)
	}
	return nil
}

// licenseUploadBody is the multipart body: one part, named partName
// (isvUpdateFileReq by default), holding the request as JSON with the
// SHA-256 of the licence.
func licenseUploadBody(partName, license string) ([]byte, string, error) {
	sum := sha256.Sum256([]byte(license))
	part, err := json.Marshal(licenseUploadRequest{Type: LicenseTypeCharacters, Characters: license, SHA256: hex.EncodeToString(sum[:])})
	if err != nil {
		return nil, "", err
	}
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if err := w.WriteField(partName, string(part)); err != nil {
		return nil, "", err
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), w.FormDataContentType(), nil
}
