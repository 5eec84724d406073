// Command licence-verifiers is the Go verifier of docs/licence-keys.md, which
// accepts keys of both formats:
//
//	go run ./hack/licence-verifiers PUBLIC_KEY PRODUCT_ID FINGERPRINT LICENCE_KEY [REVOCATION_LIST]
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/kooper-io/kooper/api/licensekey"
)

func main() {
	pub, err := licensekey.ParsePublicKey([]byte(os.Args[1])) // the raw key in base64url, or PEM
	refuse(err)
	keys := licensekey.NewKeySet(pub) // add retired keys while their keys are in use
	// ProductID is your product's: keys and revocation lists of another product are refused.
	opts := licensekey.VerifyOptions{Keys: keys, ProductID: os.Args[2], Now: time.Now(), Fingerprint: os.Args[3],
		MaxRevocationAge: 24 * time.Hour}
	if len(os.Args) > 5 {
		opts.Revoked, err = licensekey.ParseRevocationList(os.Args[5], keys)
		refuse(err)
	}
	claims, err := licensekey.Verify(os.Args[4], opts) // errors.Is(err, licensekey.ErrExpired), ...
	refuse(err)
	out, err := json.Marshal(claims)
	refuse(err)
	fmt.Println(string(out))
}

func refuse(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "licence key NOT valid:", err)
		os.Exit(1)
	}
}
