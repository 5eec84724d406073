package webhook

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/kooper-io/kooper/api/licensekey"
	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/licenseissue"
	"github.com/kooper-io/kooper/internal/tombstone"
)

// RevocationListPath is the route of a License product's signed revocation
// list: GET /koogallery/{product}/licenses/revoked. The merchant's software
// fetches it, so it carries no marketplace signature; the list is signed
// with the product's licence signing key instead, and verifiers trust that.
const RevocationListPath = CallbackPathPrefix + "{product}/licenses/revoked"

// revocationMaxAge is how long clients and proxies may cache a list.
const revocationMaxAge = "60"

// serveRevocations answers GET (and HEAD) with the signed list of the
// product's frozen and released instances, as text, in the format the
// query asks for (format=JWS or format=Legacy: software that names it is
// unaffected by a change of the product's setting or kooper's default), else
// in the product's license.keyFormat (a JWS by default); an unknown format
// is 400, an unknown product (or a SaaS one) 404, one that cannot be read or
// confirmed now (readBeforeAuth) or has no signing key 503, a list longer
// than verifiers read 503 too (errRevocationListTooLong), other methods
// 405. It reads from the cache, the API server only within the budget of
// reads for unauthenticated requests, and a list signed less than
// revocationListTTL ago is answered again, so it is safe to poll. Nobody
// authenticates a poll: each refusal's line is within the receiver's budget
// of such lines (logRefusal).
func (r *Receiver) serveRevocations(w http.ResponseWriter, req *http.Request) {
	ctx, cancel := context.WithTimeout(req.Context(), r.opts.APITimeout)
	defer cancel()
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		r.logRefusal(ctx, req, http.StatusMethodNotAllowed, nil, "method", koogallery.NameOrWithheld(req.Method))
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	format, err := requestedFormat(req)
	if err != nil {
		r.logRefusal(ctx, req, http.StatusBadRequest, err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	body, status, err := r.revocationList(ctx, req.PathValue("product"), format)
	if err != nil {
		r.logRefusal(ctx, req, status, err)
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", retryAfter(err))
		}
		http.Error(w, http.StatusText(status), status)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age="+revocationMaxAge)
	_, _ = w.Write(body)
}

// retryAfter is the Retry-After of a 503 refused with err, in seconds.
// Within a second the list, its key or the budget of reads may be there
// (revocationListTTL); a list too long stays so until someone acts, so it
// is asked again no sooner than a list served would be.
func retryAfter(err error) string {
	if errors.Is(err, errRevocationListTooLong) {
		return revocationMaxAge
	}
	return "1"
}

// logRefusal writes the line of a poll refused with status (err its reason,
// when there is one, and kv more values) within the receiver's budgets of
// lines for requests nobody authenticated, as the audit line of a callback
// never authenticated is (Receiver.audit): anyone can send polls, each
// refused alike. Failures (5xx) spend the failures' budget, so a flood of
// refusals cannot hide one. Beyond its budget a line is counted
// (kooper_receiver_audit_lines_not_logged_total), not written, and the next
// one written says how many were not ("notLogged"). The product segment of
// the URL is shown as the audit line shows it (auditedProduct).
func (r *Receiver) logRefusal(ctx context.Context, req *http.Request, status int, err error, kv ...any) {
	log, ok := r.unauthenticatedLine(ctrl.LoggerFrom(ctx).WithName("receiver"), status >= http.StatusInternalServerError)
	if !ok {
		return
	}
	log = log.WithValues("product", auditedProduct(req.PathValue("product")))
	kv = append([]any{"status", status}, kv...)
	switch {
	case errors.Is(err, errRevocationListTooLong):
		// Revoked keys are at stake, and only the merchant can act.
		log.Error(err, "Revocation list refused", kv...)
	case err != nil:
		log.Info("Revocation list refused", append(kv, "reason", err.Error())...)
	default:
		log.Info("Revocation list refused", kv...)
	}
}

// requestedFormat is the list format the request's format parameter names,
// "" when it names none.
func requestedFormat(req *http.Request) (licensekey.Format, error) {
	switch f := licensekey.Format(req.URL.Query().Get("format")); f {
	case "", licensekey.FormatJWS, licensekey.FormatLegacy:
		return f, nil
	default:
		return "", errors.New("format must be JWS or Legacy")
	}
}

// revocationList is the answer's body, the list of product name signed in
// format (the product's license.keyFormat when "") and a newline, or the
// HTTP status that refuses it. A list signed less than revocationListTTL
// ago for the same product and format is answered again, without reading
// the product: the body is the memo's own, to write, never to modify.
func (r *Receiver) revocationList(ctx context.Context, name string, format licensekey.Format) ([]byte, int, error) {
	if !mayBeProductName(name) {
		// No product has it: answered without a read and kept nowhere, so
		// made-up names as long as a request line allows cannot fill the
		// memo (10,000 of 16 KiB each were 160 MiB).
		return nil, http.StatusNotFound, errors.New("no product has this name")
	}
	format = r.cachedListFormat(ctx, name, format)
	return r.revocationLists.get(name+"/"+string(format), func() ([]byte, int, error) {
		// The build serves every poll waiting for it: one that hangs up
		// must not fail the others.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.APITimeout)
		defer cancel()
		product, err := r.product(ctx, name)
		if code, _ := toResult(err); code == koogallery.ResultInvalidParam {
			return nil, http.StatusNotFound, err
		}
		if err != nil {
			return nil, http.StatusServiceUnavailable, err
		}
		if product.Spec.Type != saasv1alpha1.ProductTypeLicense {
			return nil, http.StatusNotFound, errors.New("the product does not sell licences")
		}
		if format == "" {
			// The API's enum values are licensekey's format names.
			format = licensekey.Format(product.Spec.GetLicenseKeyFormat(r.opts.LicenseKeyFormat))
		}
		token, status, err := r.signRevocationList(ctx, product, format)
		return []byte(token + "\n"), status, err
	})
}

// cachedListFormat is the format a list asked for in format is signed in:
// format itself, or, when "", the license.keyFormat of the product as the
// cache holds it, so that a poll naming no format and one naming the
// product's own share one memo entry and one build. It stays "" when the
// cache holds no License product of that name: the build reads the product
// (within the budget of reads) and refuses, or resolves the format itself.
func (r *Receiver) cachedListFormat(ctx context.Context, name string, format licensekey.Format) licensekey.Format {
	if format != "" {
		return format
	}
	product := &saasv1alpha1.SaaSProduct{}
	// Read only, so not copied: this runs on every poll.
	err := r.client.Get(ctx, types.NamespacedName{Name: name}, product, client.UnsafeDisableDeepCopy)
	if err != nil || product.Spec.Type != saasv1alpha1.ProductTypeLicense {
		return ""
	}
	// The API's enum values are licensekey's format names.
	return licensekey.Format(product.Spec.GetLicenseKeyFormat(r.opts.LicenseKeyFormat))
}

// errRevocationListTooLong refuses a list longer than
// licensekey.MaxTokenLength (64 KiB), which every verifier refuses to read
// (api/licensekey, kubectl kooper, docs/licence-keys.md's checks): served,
// it would be refused as malformed by each. It is refused here instead (503,
// counted in kooper_revocation_lists_too_long_total, logged at error), so
// that software keeps the last list it verified. None of its entries may be
// left out to make it fit: each may revoke a key still valid, and a list
// without it would tell a verifier that key is not revoked.
var errRevocationListTooLong = errors.New("the revocation list is longer than verifiers read")

// revocationListsTooLong counts the lists refused as too long
// (errRevocationListTooLong), one per build: at most one a second per
// product and format on each replica while polls ask for it.
var revocationListsTooLong = prometheus.NewCounter(prometheus.CounterOpts{
	Name: "kooper_revocation_lists_too_long_total",
	Help: "Licence revocation lists not served (503) because, signed, they were longer than the 64 KiB verifiers read; the receiver's log names the product and the count of revoked instances.",
})

func init() {
	metrics.Registry.MustRegister(revocationListsTooLong)
}

// signRevocationList reads product's frozen, released and gone licences
// and signs their list in format: 503 when a list cannot be read or signed
// now, or when signed it is longer than verifiers read
// (errRevocationListTooLong).
func (r *Receiver) signRevocationList(ctx context.Context, product *saasv1alpha1.SaaSProduct, format licensekey.Format) (string, int, error) {
	signer, err := r.licenseSigner(ctx, product)
	if err != nil {
		return "", http.StatusServiceUnavailable, err
	}
	licences, err := r.productLicences(ctx, product.Name)
	if err != nil {
		return "", http.StatusServiceUnavailable, err
	}
	gone, err := r.goneLicences.get(product.Name, func() ([]string, error) {
		// From the cache, not the API server: rule A (docs/lifecycle.md)
		// has a callback's answer decided on fresh data, and this list
		// answers no callback. It is already up to goneLicencesTTL (15 s)
		// behind, and served for revocationMaxAge (60 s); a tombstone the
		// cache holds a few milliseconds after the API server is nothing
		// to that. Nor did the API server close the moment between a
		// deleted licence leaving the cache and its tombstone reaching it:
		// the memo may hold a read from before the tombstone, for longer.
		// From the API server, each product cost a LIST of every shard
		// each 15 s (100 products: about 7 a second).
		return tombstone.GoneLicences(ctx, r.client, r.opts.Namespace, product.Name, client.UnsafeDisableDeepCopy)
	})
	if err != nil {
		return "", http.StatusServiceUnavailable, err
	}
	revoked := revokedInstances(licences, product.Name, gone)
	list := licensekey.RevocationList{ProductID: product.Spec.ProductID, IssuedAt: r.opts.Now().Unix(), Revoked: revoked}
	token, err := signer.SignRevocationList(list, format)
	if err != nil {
		return "", http.StatusInternalServerError, err
	}
	if len(token) > licensekey.MaxTokenLength {
		revocationListsTooLong.Inc()
		return "", http.StatusServiceUnavailable, fmt.Errorf("%w: %d revoked instances make a %s list of %d bytes, and verifiers read at most %d; "+
			"none is left out, since a key of each may still be valid, so software keeps the last list it verified (docs/licence-keys.md)",
			errRevocationListTooLong, len(revoked), format, len(token), licensekey.MaxTokenLength)
	}
	return token, http.StatusOK, nil
}

// productLicences lists product's licences from the cache, read only (none
// deep-copied), by the product their spec names (licenceProductIndex), not
// by their product label: a label is what a person or a script may have
// removed, and a revoked licence left out of the list stays valid in the
// field.
//
// A client without that index (a receiver not built by Setup: a test's
// fake client, a direct client, whose API server refuses a field selector
// on a custom resource's spec) fails the indexed list; every licence is
// listed then, and revokedInstances keeps the product's, so the route
// answers as it did before the index, at the cost it had. Any failure
// falls back, not only a missing index, as each client words that its own
// way; a cache that cannot be read fails the full list too, which then
// refuses the list (503) as before.
func (r *Receiver) productLicences(ctx context.Context, product string) ([]saasv1alpha1.License, error) {
	licences := &saasv1alpha1.LicenseList{}
	err := r.client.List(ctx, licences, client.MatchingFields{licenceProductIndex: product}, client.UnsafeDisableDeepCopy)
	if err == nil || ctx.Err() != nil {
		return licences.Items, err
	}
	licences = &saasv1alpha1.LicenseList{}
	if err := r.client.List(ctx, licences, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	return licences.Items, nil
}

// revokedInstances lists each frozen or released instance once, and each
// gone one (its record deleted) as released; released wins over frozen.
//
// Every such instance is listed, whether or not its keys have expired:
// kooper knows the expiry of none of them for certain. A licence's
// status.notAfter is its current key's, and an older key of the instance
// may end later (a renewal period shortened, a plan's validityDays lowered,
// spec.notAfter edited: docs/licence-keys.md, "still valid until its own
// exp"); a gone licence's tombstone records no expiry at all. Leaving out
// an instance whose current key expired would make such an older key valid
// again.
func revokedInstances(licences []saasv1alpha1.License, product string, gone []string) []licensekey.Revocation {
	reasons := map[string]string{}
	for _, id := range gone {
		reasons[id] = licensekey.ReasonReleased
	}
	for _, l := range licences {
		if l.Spec.ProductName != product {
			continue
		}
		switch l.Spec.State {
		case saasv1alpha1.StateReleased:
			reasons[l.Spec.InstanceID] = licensekey.ReasonReleased
		case saasv1alpha1.StateFrozen:
			if reasons[l.Spec.InstanceID] == "" {
				reasons[l.Spec.InstanceID] = licensekey.ReasonFrozen
			}
		}
	}
	revoked := make([]licensekey.Revocation, 0, len(reasons))
	for id, reason := range reasons {
		revoked = append(revoked, licensekey.Revocation{InstanceID: id, Reason: reason})
	}
	return revoked
}

// licenseSigner reads the product's licence signing key from its keys
// Secret (cached once the keys controller labelled it; read directly until
// then, within the budget of reads for unauthenticated requests). Errors
// name keys, never values.
func (r *Receiver) licenseSigner(ctx context.Context, product *saasv1alpha1.SaaSProduct) (*licenseissue.Issuer, error) {
	secret := &corev1.Secret{}
	key := types.NamespacedName{Namespace: r.opts.Namespace, Name: product.Spec.KeysSecretName}
	if err := r.readBeforeAuth(ctx, key, secret, false); err != nil {
		return nil, err
	}
	priv, err := licensekey.ParsePrivateKeyPEM(secret.Data[saasv1alpha1.LicenseSigningKeySecretKey])
	if err != nil {
		return nil, errors.New("the keys Secret has no usable " + saasv1alpha1.LicenseSigningKeySecretKey)
	}
	return licenseissue.New(priv)
}

// goneLicencesTTL is how long the list of a product's gone licence
// instances is reused: reading it decodes every entry of every tombstone
// shard the cache holds (up to a few million), and the revocation list is
// public and polled. A licence gone meanwhile appears in the list at most
// that much later, well within the list's own max-age.
const goneLicencesTTL = 15 * time.Second

// revocationListTTL is how long a signed revocation list (or its refusal)
// is answered again before it is built anew. Building one reads every
// licence of the product and signs the list; the route is public, polled by
// every copy of the merchant's software and open to anyone, and it is
// served by the process that answers the marketplace. Without the memo each
// poll cost that build, so a flood of polls cost a read of every licence
// each; with it, a build a second per product and format, however many
// polls. A second is nothing to the list's own max-age (60 s).
const revocationListTTL = time.Second

// ttlMemo keeps the value built for each key for ttl after its build began;
// the callers that find it older share one build (singleflight). A build
// that fails is not kept. Each store drops the entries older than ttl, so
// the memo holds only what was built within the last ttl (a deleted
// product's, a made-up name's refusal, a format asked once are not kept
// beyond it); it is emptied beyond 10,000 keys all the same.
type ttlMemo[T any] struct {
	now func() time.Time
	// ttl 0 builds for every call (a benchmark's baseline).
	ttl     time.Duration
	flight  singleflight.Group
	mu      sync.Mutex
	entries map[string]memoEntry[T]
}

type memoEntry[T any] struct {
	value T
	built time.Time
}

// mayBeProductName reports whether name can name a SaaSProduct: a DNS
// subdomain of at most 63 characters (the product CRD's own rule, as the
// value of the label saas.kooper.io/product).
func mayBeProductName(name string) bool {
	return len(name) <= validation.LabelValueMaxLength && len(validation.IsDNS1123Subdomain(name)) == 0
}

// get returns the value kept under key if it was built less than ttl ago,
// else builds, keeps and returns it.
func (m *ttlMemo[T]) get(key string, build func() (T, error)) (T, error) {
	if value, ok := m.kept(key); ok {
		return value, nil
	}
	v, err, _ := m.flight.Do(key, func() (any, error) {
		// Again: a build may have ended between the look above and this.
		if value, ok := m.kept(key); ok {
			return value, nil
		}
		built := m.now()
		value, err := build()
		if err == nil {
			m.keep(key, memoEntry[T]{value: value, built: built})
		}
		return value, err
	})
	value, _ := v.(T)
	return value, err
}

// kept returns the value kept under key if it was built less than ttl ago.
func (m *ttlMemo[T]) kept(key string) (T, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[key]
	return e.value, ok && m.now().Sub(e.built) < m.ttl
}

// keep stores e under key, dropping the entries older than ttl: kept only
// to be answered again, they would otherwise stay until the process ends.
func (m *ttlMemo[T]) keep(key string, e memoEntry[T]) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries == nil || len(m.entries) > 10_000 {
		m.entries = map[string]memoEntry[T]{}
	}
	now := m.now()
	maps.DeleteFunc(m.entries, func(_ string, old memoEntry[T]) bool { return now.Sub(old.built) >= m.ttl })
	m.entries[key] = e
}

// listMemo keeps each revocation list's outcome, a signed list or the
// refusal of one (an unknown product, a missing signing key), for
// revocationListTTL, by product and the format asked for. A refusal is kept
// too: building one reads from the API server (a product or keys Secret the
// cache lacks is confirmed there), so a flood of polls for it must cost a
// read a second, not one each. Made-up product names, each a key of its
// own, are bounded by the receiver's budget of such reads instead
// (readBeforeAuth).
type listMemo struct {
	ttlMemo[builtList]
}

// builtList is a build's outcome: a list's body, or the status and error
// that refuse it.
type builtList struct {
	body   []byte
	status int
	err    error
}

// get returns the outcome kept under key, or builds it.
func (m *listMemo) get(key string, build func() ([]byte, int, error)) ([]byte, int, error) {
	list, _ := m.ttlMemo.get(key, func() (builtList, error) {
		body, status, err := build()
		return builtList{body: body, status: status, err: err}, nil
	})
	return list.body, list.status, list.err
}
