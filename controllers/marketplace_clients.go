package controllers

import "github.com/kooper-io/kooper/internal/koogallery"

// marketplaceClients returns a constructor of open-API clients at baseURLs
// (the first, then the fallbacks), one per product's AK/SK, that all send
// through one HTTP client (koogallery.NewHTTPClient): one transport and one
// pool of connections for a whole factory. The reconcilers ask a factory for
// a client on every call, and a transport per client would leave its idle
// connections, and their goroutines, behind each time.
func marketplaceClients(baseURLs []string) func(ak, sk string) *koogallery.Client {
	shared := koogallery.NewHTTPClient()
	return func(ak, sk string) *koogallery.Client {
		return koogallery.NewClientWith(shared, ak, sk, baseURLs...)
	}
}
