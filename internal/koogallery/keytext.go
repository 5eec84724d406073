package koogallery

import "strings"

// KeyText is a marketplace key (the basic interface's key, the kit's key,
// an access key ID or secret access key) as stored in a Secret's data,
// without the white space around it. The keys the Seller Console shows are
// letters and digits; a Secret made from a file (kubectl create secret
// --from-file, an editor that ends every file with a newline) holds them
// with a trailing newline, and signing with it would fail every callback
// (000001) and every call kooper makes. A file Windows PowerShell wrote
// (Set-Content -Encoding UTF8) starts with a UTF-8 byte order mark, which
// is dropped too; text in any other encoding (UTF-16) is left as it is,
// for productkeys.Unusable to refuse.
func KeyText(data []byte) string {
	return strings.TrimSpace(strings.TrimPrefix(string(data), byteOrderMark))
}

// byteOrderMark is U+FEFF in UTF-8, as an editor writes it before a file's
// text.
const byteOrderMark = "\uFEFF"
