package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/kooper-io/kooper/api/licensekey"
)

// maxPrintedBytes caps how much of a body is printed.
const maxPrintedBytes = 8 << 10

// printRequest writes what is sent: the URL without its query (which holds
// the signature) and the body (which holds no secret).
func printRequest(w io.Writer, m *marketplace, req signedRequest) {
	fmt.Fprintf(w, "POST %s  (%s, signed with the key)\n%s\n", m.display(), req.activity, printable(req.body))
}

// printAnswer writes the answer: status, time, the Body-Sign check, the body
// pretty-printed, and whether each appInfo's credentials decrypt (with
// show, the credentials themselves). It never writes the key.
func printAnswer(w io.Writer, a *answer, key string, show bool) {
	fmt.Fprintf(w, "\nHTTP %d in %s; Body-Sign: %s\n", a.status, a.elapsed.Round(timeRounding(a.elapsed)), a.bodySign)
	body := a.raw
	if !show {
		body = withoutCredentials(body)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, body, "", "  "); err == nil {
		fmt.Fprintln(w, printable(pretty.Bytes()))
	} else {
		fmt.Fprintf(w, "(not JSON) %s\n", printable(body))
	}
	if problem := a.envelopeProblem(); problem != "" {
		fmt.Fprintf(w, "PROBLEM: %s\n", problem)
	}
	printCredentials(w, a, key, show)
}

// printCredentials decrypts every appInfo's credentials and says, in a
// stable order, that they decrypt; with show it writes them too.
func printCredentials(w io.Writer, a *answer, key string, show bool) {
	infos := a.appInfos()
	ids := make([]string, 0, len(infos))
	for id := range infos {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		creds, err := decryptAppInfo(key, a.body.EncryptType, infos[id])
		if err != nil {
			fmt.Fprintf(w, "appInfo of %s: cannot decrypt: %v\n", id, err)
			continue
		}
		if !show {
			fmt.Fprintf(w, "appInfo of %s (encryptType %s): userName and password decrypt with the key (--show-credentials prints them)\n",
				id, encryptTypeName(a.body.EncryptType))
			continue
		}
		fmt.Fprintf(w, "appInfo of %s (encryptType %s) decrypted: userName %q, password %q\n",
			id, encryptTypeName(a.body.EncryptType), creds.userName, creds.password)
	}
}

// credentialMember matches a JSON member that may hold a credential, with
// its string value: appInfo's userName and password (encrypted, but with a
// key whoever reads the output may hold: the demo prints the spec's test
// key: §4.1) and its memo (a License product's licence key, in plain
// text: docs/licence-keys.md). The names match in any case, as
// encoding/json (and so decryptAppInfo) reads them.
var credentialMember = regexp.MustCompile(`("((?i:userName|password|memo))"\s*:\s*)("(?:[^"\\]|\\.)*")`)

// withoutCredentials is body with the value of every userName and password,
// and of a memo that holds a licence key, replaced by a note saying what
// it was: without --show-credentials no tenant's credentials reach a
// terminal's scrollback or a CI log, not even encrypted. Other memos (notes
// to the buyer) are kept.
func withoutCredentials(body []byte) []byte {
	return credentialMember.ReplaceAllFunc(body, func(member []byte) []byte {
		parts := credentialMember.FindSubmatch(member)
		prefix, name, quoted := parts[1], parts[2], parts[3]
		var value string
		if json.Unmarshal(quoted, &value) != nil || value == "" {
			return member
		}
		note := "(encrypted; --show-credentials prints it)"
		if bytes.EqualFold(name, []byte("memo")) {
			if _, err := licensekey.Parse(value); err != nil {
				return member
			}
			note = fmt.Sprintf("(a licence key, %d characters; --show-credentials prints it)", len(value))
		}
		return append(slices.Clip(prefix), strconv.Quote(note)...)
	})
}

// encryptTypeName names the cipher for output; absent means "1" (§4.1).
func encryptTypeName(t string) string {
	if t == "" {
		return "absent, so 1"
	}
	return t
}

// printable returns body as text for a terminal: cut at maxPrintedBytes and
// with invalid UTF-8 replaced.
func printable(body []byte) string {
	suffix := ""
	if len(body) > maxPrintedBytes {
		body, suffix = body[:maxPrintedBytes], fmt.Sprintf("… (%d bytes in all)", len(body))
	}
	s := string(body)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "�")
	}
	return s + suffix
}
