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
)

// LicenseUploadPathPrefix and LicenseUploadPathSuffix frame the event ID in
// the path of the licence upload open API (§6.6; the prefix is inferred).
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

// UploadLicense delivers the licence of a getLicenseAsync application as a
// string (type CHARACTERS, §6.6). The marketplace keys the upload by
// eventID, so sending the same licence again is harmless.
func (c *Client) UploadLicense(ctx context.Context, eventID, license string) error {
	if eventID == "" || license == "" {
		return errors.New("an event ID and a licence are required to upload a licence")
	}
	body, contentType, err := licenseUploadBody(license)
	if err != nil {
		return err
	}
	r := apiCall{method: "POST", path: LicenseUploadPathPrefix + url.PathEscape(eventID) + LicenseUploadPathSuffix,
		contentType: contentType, body: body}
	var answer openAPIResult
	if err := c.do(ctx, r, &answer); err != nil {
		return fmt.Errorf("failed to upload the licence of event %s: %w", eventID, err)
	}
	return nil
}

// licenseUploadBody is the multipart body: one part, isvUpdateFileReq,
// holding the request as JSON with the SHA-256 of the licence.
func licenseUploadBody(license string) ([]byte, string, error) {
	sum := sha256.Sum256([]byte(license))
	part, err := json.Marshal(licenseUploadRequest{Type: LicenseTypeCharacters, Characters: license, SHA256: hex.EncodeToString(sum[:])})
	if err != nil {
		return nil, "", err
	}
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if err := w.WriteField(LicenseUploadPart, string(part)); err != nil {
		return nil, "", err
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), w.FormDataContentType(), nil
}
