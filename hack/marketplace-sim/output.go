package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
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
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, a.raw, "", "  "); err == nil {
		fmt.Fprintln(w, printable(pretty.Bytes()))
	} else {
		fmt.Fprintf(w, "(not JSON) %s\n", printable(a.raw))
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
