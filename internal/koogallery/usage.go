package koogallery

import "encoding/base64"

// SignUsagePush returns the signature header of the new usage push (§6.4):
// Base64 of HMAC-SHA256 keyed with the interface key over
// "ts=<ts>&nonce=<nonce>&body=<body>". body must be the exact bytes sent.
func SignUsagePush(key, ts, nonce string, body []byte) string {
	msg := make([]byte, 0, len(ts)+len(nonce)+len(body)+16)
	msg = append(msg, "ts="+ts+"&nonce="+nonce+"&body="...)
	msg = append(msg, body...)
	return base64.StdEncoding.EncodeToString(hmacSHA256([]byte(key), msg))
}
