package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"time"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// Licence delivery types (§6.6).
const (
	uploadCharacters = "CHARACTERS"
	uploadFile       = "FILE"
	// uploadPart names the multipart part of the request (§6.6).
	uploadPart = "isvUpdateFileReq"
)

// Multipart layouts the upload accepts. §6.6 says one part named
// isvUpdateFileReq carries type, characters, file_name, file and sha256,
// which a single part cannot do for a file; so both readings are accepted
// and the one used is recorded (§8 item 26).
const (
	// layoutJSONPart: isvUpdateFileReq is a JSON part, the file its own part "file".
	layoutJSONPart = "json-part"
	// layoutFields: type, characters, file_name, sha256 and file are form fields.
	layoutFields = "form-fields"
)

// uploadRequest is the content of isvUpdateFileReq.
type uploadRequest struct {
	Type       string `json:"type"`
	Characters string `json:"characters"`
	FileName   string `json:"file_name"`
	SHA256     string `json:"sha256"`
}

// licenseUpload is a received licence as GET /sim/uploads lists it.
type licenseUpload struct {
	EventID    string `json:"eventId"`
	Type       string `json:"type"`
	Layout     string `json:"layout"`
	FileName   string `json:"fileName,omitempty"`
	Characters string `json:"characters,omitempty"`
	FileBase64 string `json:"fileBase64,omitempty"`
	Size       int    `json:"size"`
	SHA256     string `json:"sha256"`
	ReceivedAt string `json:"receivedAt"`
}

// licenseUpload serves POST .../market-event/{event_id}/file: AK/SK over the
// exact body, then the multipart content and its sha256.
func (s *simServer) licenseUpload(w http.ResponseWriter, r *http.Request) {
	eventID := r.PathValue("event_id")
	body, ok := s.readBody(w, r, maxUploadBody)
	if !ok || !s.authenticate(w, r, body) {
		return
	}
	upload, err := parseUpload(r.Header.Get("Content-Type"), body)
	if err != nil {
		s.replyError(w, r, http.StatusBadRequest, codeBadRequest, err.Error())
		return
	}
	upload.EventID = eventID
	upload.ReceivedAt = s.cfg.now().UTC().Format(time.RFC3339)
	if !s.storeUpload(upload) {
		s.replyError(w, r, http.StatusInsufficientStorage, "MKT.0999", "the simulator holds too many uploads; restart it")
		return
	}
	s.reply(w, r, http.StatusOK, koogallery.OpenAPISuccess,
		openAPIError{ErrorCode: koogallery.OpenAPISuccess, ErrorMsg: "success"},
		fmt.Sprintf("eventId %s, %s, %d bytes", eventID, upload.Type, upload.Size))
}

// parseUpload reads the multipart body in either layout and checks it.
func parseUpload(contentType string, body []byte) (licenseUpload, error) {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil || mediaType != "multipart/form-data" || params["boundary"] == "" {
		return licenseUpload{}, errors.New("the body must be multipart/form-data with a boundary")
	}
	form, err := multipart.NewReader(bytes.NewReader(body), params["boundary"]).ReadForm(maxUploadBody)
	if err != nil {
		return licenseUpload{}, fmt.Errorf("the multipart body cannot be read: %w", err)
	}
	defer func() { _ = form.RemoveAll() }()
	req, layout, err := uploadFields(form)
	if err != nil {
		return licenseUpload{}, err
	}
	return checkUpload(req, layout, form)
}

// uploadFields finds the request fields: in a JSON part named
// isvUpdateFileReq (sent as a field or as a file), else in form fields.
func uploadFields(form *multipart.Form) (uploadRequest, string, error) {
	var raw []byte
	if values := form.Value[uploadPart]; len(values) > 0 {
		raw = []byte(values[0])
	} else if files := form.File[uploadPart]; len(files) > 0 {
		data, err := readFormFile(files[0])
		if err != nil {
			return uploadRequest{}, "", err
		}
		raw = data
	}
	if raw != nil {
		var req uploadRequest
		if err := json.Unmarshal(raw, &req); err != nil {
			return uploadRequest{}, "", fmt.Errorf("part %s is not a JSON object: %w", uploadPart, err)
		}
		return req, layoutJSONPart, nil
	}
	first := func(name string) string {
		if v := form.Value[name]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	req := uploadRequest{Type: first("type"), Characters: first("characters"), FileName: first("file_name"), SHA256: first("sha256")}
	if req.Type == "" {
		return uploadRequest{}, "", fmt.Errorf("neither a part %s nor a field type was sent", uploadPart)
	}
	return req, layoutFields, nil
}

// checkUpload applies the rules of §6.6: a known type, the content that
// type needs, and a sha256 matching that content.
func checkUpload(req uploadRequest, layout string, form *multipart.Form) (licenseUpload, error) {
	upload := licenseUpload{Type: req.Type, Layout: layout, FileName: req.FileName}
	var content []byte
	switch req.Type {
	case uploadCharacters:
		if req.Characters == "" {
			return upload, errors.New("type CHARACTERS needs characters")
		}
		content, upload.Characters = []byte(req.Characters), req.Characters
	case uploadFile:
		files := form.File["file"]
		if len(files) == 0 {
			return upload, errors.New("type FILE needs a part named file")
		}
		data, err := readFormFile(files[0])
		if err != nil {
			return upload, err
		}
		if upload.FileName == "" {
			upload.FileName = files[0].Filename
		}
		content, upload.FileBase64 = data, base64.StdEncoding.EncodeToString(data)
	default:
		return upload, fmt.Errorf("type must be %s or %s", uploadCharacters, uploadFile)
	}
	sum := sha256.Sum256(content)
	upload.SHA256, upload.Size = hex.EncodeToString(sum[:]), len(content)
	if !strings.EqualFold(req.SHA256, upload.SHA256) {
		return upload, errors.New("sha256 does not match the content")
	}
	return upload, nil
}

// readFormFile reads one multipart file.
func readFormFile(fh *multipart.FileHeader) ([]byte, error) {
	f, err := fh.Open()
	if err != nil {
		return nil, fmt.Errorf("part %s cannot be opened: %w", fh.Filename, err)
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("part %s cannot be read: %w", fh.Filename, err)
	}
	return data, nil
}

// storeUpload keeps an upload, refusing beyond maxUploads.
func (s *simServer) storeUpload(u licenseUpload) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.uploads) >= maxUploads {
		return false
	}
	s.uploads = append(s.uploads, u)
	return true
}

// listUploads serves GET /sim/uploads[?eventId=…].
func (s *simServer) listUploads(w http.ResponseWriter, r *http.Request) {
	eventID := r.URL.Query().Get("eventId")
	s.mu.Lock()
	uploads := []licenseUpload{}
	for _, u := range s.uploads {
		if eventID == "" || u.EventID == eventID {
			uploads = append(uploads, u)
		}
	}
	s.mu.Unlock()
	s.reply(w, r, http.StatusOK, koogallery.OpenAPISuccess, struct {
		Uploads []licenseUpload `json:"uploads"`
	}{uploads}, "")
}
