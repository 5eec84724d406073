package koogallery

import "strings"

// KeyText is a marketplace key (the basic interface's key, the kit's key,
// an access key ID or secret access key) as stored in a Secret's data,
// without the white space around it. The keys the Seller Console shows are
// letters and digits; a Secret made from a file (kubectl create secret
// --from-file, an editor that ends every file with a newline) holds them
// with a trailing newline, and signing with it would fail every callback
// (000001) and every call kooper makes.
func KeyText(data []byte) string {
	return strings.TrimSpace(string(data))
}
