package koogallery

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// KitInterface names a joint-operation kit sync interface: the last element
// of its sub-path /produceAPI/v2/{name} (§1.2, §3.11).
type KitInterface string

// The five kit interfaces.
const (
	KitTenantSync      KitInterface = "tenantSync"
	KitApplicationSync KitInterface = "applicationSync"
	KitAuthSync        KitInterface = "authSync"
	KitSingleOrgSync   KitInterface = "singleOrgSync"
	KitAllOrgSync      KitInterface = "allOrgSync"
)

// KitPathPrefix is what the marketplace appends to the production URL before
// the interface name.
const KitPathPrefix = "/produceAPI/v2/"

// KitInterfaces lists the kit interfaces in the order the marketplace calls
// them when an application is bound (§3.11).
var KitInterfaces = []KitInterface{KitTenantSync, KitApplicationSync, KitAllOrgSync, KitAuthSync, KitSingleOrgSync}

// KitFlag is the integer flag of a kit call.
type KitFlag int

// Kit flags (§3.11): every interface but allOrgSync has one; only authSync
// has KitCancelAuth.
const (
	KitDelete     KitFlag = 0
	KitAdd        KitFlag = 1
	KitModify     KitFlag = 2
	KitCancelAuth KitFlag = 3
)

// Limits of kit bodies.
const (
	// MaxKitUsers is the most users one authSync may carry (§3.11.3).
	MaxKitUsers = 500
	// MaxKitOrgs bounds allOrgSync: far above any real organisation, low
	// enough that a hostile body cannot make kooper store millions of entries.
	MaxKitOrgs = 100_000
)

// KitCommon holds the fields every kit call has.
type KitCommon struct {
	InstanceID string
	TenantID   string
	// TestFlag is 0 for production, 1 for a debug call.
	TestFlag int
	// TimeStamp is yyyyMMddHHmmssSSS (UTC+8), as sent.
	TimeStamp string
}

// TenantSyncRequest is the body of tenantSync (§3.11.1).
type TenantSyncRequest struct {
	KitCommon
	OrderID    string
	TenantCode string
	Name       string
	DomainName string
	Flag       KitFlag
}

// ApplicationSyncRequest is the body of applicationSync (§3.11.2).
type ApplicationSyncRequest struct {
	KitCommon
	AppID    string
	ClientID string
	// ClientSecret is RSA-OAEP ciphertext, Base64 (§4.2).
	ClientSecret string
	Flag         KitFlag
}

// KitUser is one user of authSync. Raw is the user object as received,
// written compactly as the parser writes the body (storedUser), so fields
// kooper does not interpret, and the V1 "extension" shape, reach the
// application unchanged.
type KitUser struct {
	UserName string
	Raw      json.RawMessage
	// Index is the user's position in userList, which names it in an
	// answer.
	Index int
}

// AuthSyncRequest is the body of authSync (§3.11.3).
type AuthSyncRequest struct {
	KitCommon
	AppID string
	// Users are the entries of userList to act on, in order.
	Users []KitUser
	// Refused are the entries left out of Users, each named by index: one
	// with no userName, or, in an add or modify, one that cannot be stored.
	// Each entry is its own authorisation (the kit's key is appId plus
	// userName, §1.8), so one bad entry does not stop the others: the
	// handler applies Users, then answers Refusal.
	Refused         []*ValidationError
	CurrentSyncTime string
	Flag            KitFlag
}

// Removing says whether the call removes its users: a delete and a
// cancellation of authorisation both do.
func (r *AuthSyncRequest) Removing() bool {
	return r.Flag == KitDelete || r.Flag == KitCancelAuth
}

// maxNamedRefusals is how many refused entries a refusal names; the rest it
// counts, so that it fits resultMsg's 255 characters (§5).
const maxNamedRefusals = 3

// Refusal is nil when every entry of userList was in Users, else the
// answer (000002) that names the refused entries and says how many of the
// batch were applied: the marketplace shows or e-mails it (§5), so a user
// left out is never answered as a success.
func (r *AuthSyncRequest) Refusal() error {
	return UsersNotApplied(r.Refused, len(r.Users)+len(r.Refused))
}

// UsersNotApplied is the refusal (a *ValidationError, 000002) of an
// authSync of total users of which those refused were not applied, or nil
// when none was refused. It names up to maxNamedRefusals entries, by index
// and reason only: a userName may be personal data.
func UsersNotApplied(refused []*ValidationError, total int) error {
	if len(refused) == 0 {
		return nil
	}
	named := make([]string, 0, maxNamedRefusals+1)
	for _, e := range refused[:min(len(refused), maxNamedRefusals)] {
		named = append(named, e.Error())
	}
	if more := len(refused) - maxNamedRefusals; more > 0 {
		named = append(named, fmt.Sprintf("and %d more", more))
	}
	summary := fmt.Sprintf("%d of %d users were not applied (the other %d were)", len(refused), total, total-len(refused))
	if len(refused) >= total {
		summary = fmt.Sprintf("none of the %d users was applied", total)
	}
	return &ValidationError{Field: "userList", Reason: summary + ": " + strings.Join(named, "; ")}
}

// KitOrg is one department.
type KitOrg struct {
	OrgCode    string `json:"orgCode"`
	OrgName    string `json:"orgName"`
	ParentCode string `json:"parentCode,omitempty"`
}

// SingleOrgSyncRequest is the body of singleOrgSync (§3.11.4).
type SingleOrgSyncRequest struct {
	KitCommon
	KitOrg
	Flag KitFlag
}

// AllOrgSyncRequest is the body of allOrgSync (§3.11.5).
type AllOrgSyncRequest struct {
	KitCommon
	Orgs []KitOrg
}

// kitFields is a kit body's top-level fields, nulls dropped.
type kitFields map[string][]byte

// DecodeKitRequest parses a kit body for interface name and returns the
// typed, validated request (a pointer such as *TenantSyncRequest). As with
// DecodeRequest, unknown fields are ignored, a body that is not one JSON
// object wraps ErrMalformedBody and every other problem is a
// *ValidationError; both map to 000002.
func DecodeKitRequest(name KitInterface, body []byte) (any, error) {
	members, err := parseObject(body)
	if err != nil {
		return nil, err
	}
	f := make(kitFields, len(members))
	for _, m := range members {
		if !m.isNull() {
			f[m.key] = m.value
		}
	}
	decode, ok := kitDecoders[name]
	if !ok {
		return nil, &ValidationError{Field: "interface", Reason: "unknown kit interface " + nameOrWithheld(string(name))}
	}
	req, err := decode(f)
	if err != nil {
		return nil, err
	}
	return req, nil
}

var kitDecoders = map[KitInterface]func(kitFields) (any, error){
	KitTenantSync:      decodeTenantSync,
	KitApplicationSync: decodeApplicationSync,
	KitAuthSync:        decodeAuthSync,
	KitSingleOrgSync:   decodeSingleOrgSync,
	KitAllOrgSync:      decodeAllOrgSync,
}

func decodeTenantSync(f kitFields) (any, error) {
	r := &TenantSyncRequest{}
	if err := f.head(&r.KitCommon, &r.Flag, KitModify); err != nil {
		return nil, err
	}
	live := r.Flag != KitDelete
	return r, f.all(
		f.str("orderId", &r.OrderID, 64, false),
		f.str("tenantCode", &r.TenantCode, 64, live),
		f.str("name", &r.Name, 255, false),
		f.str("domainName", &r.DomainName, 255, live))
}

func decodeApplicationSync(f kitFields) (any, error) {
	r := &ApplicationSyncRequest{}
	if err := f.head(&r.KitCommon, &r.Flag, KitModify); err != nil {
		return nil, err
	}
	live := r.Flag != KitDelete
	return r, f.all(
		f.appID(&r.AppID),
		f.str("clientId", &r.ClientID, 64, live),
		f.text("clientSecret", &r.ClientSecret, 4096, live))
}

func decodeAuthSync(f kitFields) (any, error) {
	r := &AuthSyncRequest{}
	if err := f.head(&r.KitCommon, &r.Flag, KitCancelAuth); err != nil {
		return nil, err
	}
	if err := f.all(
		f.appID(&r.AppID),
		f.str("currentSyncTime", &r.CurrentSyncTime, 32, false),
		f.users(r)); err != nil {
		return nil, err
	}
	if len(r.Users) == 0 && len(r.Refused) > 0 {
		return nil, r.Refusal() // nothing to apply
	}
	return r, nil
}

func decodeSingleOrgSync(f kitFields) (any, error) {
	r := &SingleOrgSyncRequest{}
	if err := f.head(&r.KitCommon, &r.Flag, KitModify); err != nil {
		return nil, err
	}
	return r, f.all(
		f.str("orgCode", &r.OrgCode, 64, true),
		f.str("orgName", &r.OrgName, 128, r.Flag != KitDelete),
		f.str("parentCode", &r.ParentCode, 64, false))
}

func decodeAllOrgSync(f kitFields) (any, error) {
	r := &AllOrgSyncRequest{}
	if err := f.common(&r.KitCommon); err != nil {
		return nil, err
	}
	return r, f.orgs(&r.Orgs)
}

// head decodes the common fields and the flag, which decides what else is
// required: a delete names only what it deletes.
func (f kitFields) head(c *KitCommon, flag *KitFlag, highest KitFlag) error {
	if err := f.common(c); err != nil {
		return err
	}
	return f.integer("flag", flag, highest)
}

// all returns the first error of fields decoded in the order given.
func (kitFields) all(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// common decodes the fields every kit call has.
func (f kitFields) common(c *KitCommon) error {
	return f.all(
		f.str("instanceId", &c.InstanceID, 64, true),
		f.str("tenantId", &c.TenantID, 64, true),
		f.testFlag(&c.TestFlag),
		f.str("timeStamp", &c.TimeStamp, 32, true))
}

// testFlag decodes the optional testFlag. The kit pages type it Integer and
// mandatory, while the 2025 pages say it is not carried on non-debug calls
// and a basic callback reads a missing flag as 0 (§1.9, §8 item 11); so a
// missing flag (or null) is 0, production, as it is there. The integers 0
// and 1 and the strings "0" and "1" are accepted: the signature is checked
// over the value as sent, so reading "1" as 1 cannot change what was signed.
// Anything else is refused (000002).
func (f kitFields) testFlag(dst *int) error {
	switch string(f["testFlag"]) {
	case "", "0", `"0"`:
		*dst = 0
	case "1", `"1"`:
		*dst = 1
	default:
		return &ValidationError{Field: "testFlag", Reason: "must be 0 or 1"}
	}
	return nil
}

// integer decodes a mandatory JSON integer between 0 and highest. A string
// such as "1" is refused: the kit sends typed values and signs them as such.
func (f kitFields) integer(name string, dst *KitFlag, highest KitFlag) error {
	raw, ok := f[name]
	if !ok {
		return &ValidationError{Field: name, Reason: "is required"}
	}
	n, err := strconv.Atoi(string(raw))
	if err != nil {
		return &ValidationError{Field: name, Reason: "must be an integer"}
	}
	if n < 0 || KitFlag(n) > highest {
		return &ValidationError{Field: name, Reason: fmt.Sprintf("must be between 0 and %d", highest)}
	}
	*dst = KitFlag(n)
	return nil
}

// str decodes an identifier or a name: a string field of at most maxLen
// characters and no control characters (checkString).
func (f kitFields) str(name string, dst *string, maxLen int, required bool) error {
	if err := setString(name, dst)(f[name]); err != nil {
		return err
	}
	return checkString(name, *dst, maxLen, required)
}

// text decodes a string field of at most maxLen characters that may hold
// line breaks: clientSecret, Base64 that a sender may wrap in lines
// (decodeBase64 drops them), and which is decrypted, never passed on.
func (f kitFields) text(name string, dst *string, maxLen int, required bool) error {
	if err := setString(name, dst)(f[name]); err != nil {
		return err
	}
	return checkLength(name, *dst, maxLen, required)
}

// appID decodes appId, which may not hold "/": directory.UserKey joins
// appId and userName with "/", so with one the users ("A/x", "y") and
// ("A", "x/y") would share a key, and application A's gateway could admit
// "x/y". The key's format stays: stored directories use it.
func (f kitFields) appID(dst *string) error {
	if err := f.str("appId", dst, 64, true); err != nil {
		return err
	}
	if strings.Contains(*dst, "/") {
		return &ValidationError{Field: "appId", Reason: `must not hold "/"`}
	}
	return nil
}

// checkString checks an identifier or a name: checkLength, and no control
// characters (below U+0020, and U+007F). These values reach what
// interprets them: kooper-sso's files, which the SSO gateway sets as a
// header (Go's transport refuses a request with a control character in a
// header, and every user of the tenant would get a 502), and tenant.json,
// which the app reads. The message names the character, not the value,
// which may be personal data.
func checkString(name, value string, maxLen int, required bool) error {
	if err := checkLength(name, value, maxLen, required); err != nil {
		return err
	}
	if i := strings.IndexFunc(value, isControl); i >= 0 {
		r, _ := utf8.DecodeRuneInString(value[i:])
		return &ValidationError{Field: name, Reason: fmt.Sprintf("must hold no control characters (it holds U+%04X)", r)}
	}
	return nil
}

// isControl says whether r is a control character of ASCII, which a header
// value may not hold (the SSO gateway's headerSafe refuses the same).
func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// checkLength checks that a mandatory field is set, and that a field is at
// most maxLen characters.
func checkLength(name, value string, maxLen int, required bool) error {
	switch {
	case required && value == "":
		return &ValidationError{Field: name, Reason: "is required"}
	case utf8.RuneCountInString(value) > maxLen:
		return &ValidationError{Field: name, Reason: fmt.Sprintf("must be at most %d characters", maxLen)}
	}
	return nil
}

// users decodes authSync's userList, an array or, as for orgInfoList, a
// string holding one, of at most MaxKitUsers objects, into r.Users and
// r.Refused. Only a list kooper cannot read as a whole refuses the call.
func (f kitFields) users(r *AuthSyncRequest) error {
	raw, ok := f["userList"]
	if !ok {
		return &ValidationError{Field: "userList", Reason: "is required"}
	}
	raw, err := arrayOrString("userList", raw)
	if err != nil {
		return err
	}
	var items []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
		return &ValidationError{Field: "userList", Reason: "must be an array of users, or a string holding one"}
	}
	if len(items) > MaxKitUsers {
		return &ValidationError{Field: "userList", Reason: fmt.Sprintf("has %d users, more than %d", len(items), MaxKitUsers)}
	}
	r.Users = make([]KitUser, 0, len(items))
	for i, item := range items {
		u, err := decodeUser(i, item, r.Removing())
		if err != nil {
			r.Refused = append(r.Refused, err)
			continue
		}
		r.Users = append(r.Users, u)
	}
	return nil
}

// decodeUser reads a user's userName with encoding/json's matching of names
// (the last match wins) and looseString; directory.ReadUser reads a stored
// user's by the same rule, so that it is stored and found under one key.
// A removal needs only a userName: one longer than an add accepts names a
// user no directory holds, whose removal changes nothing, and refusing it
// would refuse the removal of the batch's other users (kit calls are not
// retried, §1.7, and a resend carries the same batch).
func decodeUser(i int, item json.RawMessage, removing bool) (KitUser, *ValidationError) {
	field := fmt.Sprintf("userList[%d]", i)
	var u struct {
		UserName looseString `json:"userName"`
	}
	if len(item) == 0 || item[0] != '{' || json.Unmarshal(item, &u) != nil {
		return KitUser{}, &ValidationError{Field: field, Reason: "must be an object whose userName is a string"}
	}
	name := string(u.UserName)
	if name == "" {
		return KitUser{}, &ValidationError{Field: field + ".userName", Reason: "is required"}
	}
	if !removing && utf8.RuneCountInString(name) > maxUserNameLength {
		return KitUser{}, &ValidationError{Field: field + ".userName", Reason: fmt.Sprintf("must be at most %d characters", maxUserNameLength)}
	}
	stored, err := storedUser(item)
	if err != nil {
		return KitUser{}, &ValidationError{Field: field, Reason: "must be an object whose userName is a string"}
	}
	return KitUser{UserName: name, Raw: stored, Index: i}, nil
}

// storedUser writes a user object as the parser writes a userList that
// came as an array (FormAsReceived: compact, fields in the order sent,
// numbers as sent, non-ASCII as UTF-8, no HTML escaping), so that a user
// is stored alike whichever form its list came in. A list that came as a
// string holds the user as the sender wrote it, where a Chinese character
// may be a 6-byte \uXXXX in place of 3 bytes of UTF-8: kept so, Chinese
// users would fill the directory's shards, sized in bytes, twice as fast.
// The signature was verified over the body as received, before decoding;
// this copy is only what is stored.
func storedUser(item json.RawMessage) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(item))
	dec.UseNumber()
	var out bytes.Buffer
	if err := writeValue(&out, dec, style{}); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// maxUserNameLength is userName's length in the spec (§3.11.3).
const maxUserNameLength = 64

// orgs decodes allOrgSync's orgInfoList, an array or, as in the doc
// example, a string holding the array (§8 item 23).
func (f kitFields) orgs(dst *[]KitOrg) error {
	raw, ok := f["orgInfoList"]
	if !ok {
		return &ValidationError{Field: "orgInfoList", Reason: "is required"}
	}
	raw, err := arrayOrString("orgInfoList", raw)
	if err != nil {
		return err
	}
	var loose []struct {
		OrgCode    looseString `json:"orgCode"`
		OrgName    looseString `json:"orgName"`
		ParentCode looseString `json:"parentCode"`
	}
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &loose) != nil {
		return &ValidationError{Field: "orgInfoList", Reason: "must be an array of departments, or a string holding one"}
	}
	orgs := make([]KitOrg, len(loose))
	for i, o := range loose {
		orgs[i] = KitOrg{OrgCode: string(o.OrgCode), OrgName: string(o.OrgName), ParentCode: string(o.ParentCode)}
	}
	if len(orgs) > MaxKitOrgs {
		return &ValidationError{Field: "orgInfoList", Reason: fmt.Sprintf("has %d departments, more than %d", len(orgs), MaxKitOrgs)}
	}
	// A repeated orgCode keeps its last copy, in the place of its first:
	// the spec does not make a repeat invalid (§3.11.5), a department is
	// keyed by orgCode (§1.8), and directory.Replace keeps the last entry
	// of a key too, so refusing the tree would only keep the stale one.
	unique := make([]KitOrg, 0, len(orgs))
	first := make(map[string]int, len(orgs))
	for i, o := range orgs {
		if err := checkOrg(fmt.Sprintf("orgInfoList[%d].", i), o); err != nil {
			return err
		}
		if j, seen := first[o.OrgCode]; seen {
			unique[j] = o
			continue
		}
		first[o.OrgCode] = len(unique)
		unique = append(unique, o)
	}
	*dst = unique
	return nil
}

// looseString is a nested field the spec documents as a string, read as
// setString reads a top-level one: a string, or a number's or boolean's
// text as received. null leaves it empty; an object or array is an error.
type looseString string

// UnmarshalJSON implements json.Unmarshaler.
func (s *looseString) UnmarshalJSON(raw []byte) error {
	var v string
	switch raw[0] {
	case 'n':
		return nil
	case '"':
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
	case '{', '[':
		return errNotString
	default:
		v = string(raw)
	}
	*s = looseString(v)
	return nil
}

var errNotString = errors.New("not a string, number or boolean")

// arrayOrString returns raw, or the text of raw when it is a JSON string
// (the kit may send an array as a string holding it).
func arrayOrString(field string, raw []byte) ([]byte, error) {
	if raw[0] != '"' {
		return raw, nil
	}
	var inner string
	if err := json.Unmarshal(raw, &inner); err != nil {
		return nil, &ValidationError{Field: field, Reason: "must be an array, or a string holding one"}
	}
	return []byte(strings.TrimSpace(inner)), nil
}

func checkOrg(prefix string, o KitOrg) error {
	if err := checkString(prefix+"orgCode", o.OrgCode, 64, true); err != nil {
		return err
	}
	if err := checkString(prefix+"orgName", o.OrgName, 128, true); err != nil {
		return err
	}
	return checkString(prefix+"parentCode", o.ParentCode, 64, false)
}

// NameOrWithheld quotes s when it is a name (an ASCII letter, then letters
// and digits, at most 32 characters) and otherwise says that its value is
// not shown: a refusal names what is wrong, never a value that may be
// personal data (docs/personal-data.md).
func NameOrWithheld(s string) string { return nameOrWithheld(s) }
