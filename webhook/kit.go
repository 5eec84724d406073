package webhook

import (
	"context"
	"crypto/rsa"
	"errors"
	"net/http"

	corev1 "k8s.io/api/core/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// KitPathPattern is the route of the joint-operation kit interfaces: the
// production URL plus the sub-path the marketplace appends (spec §1.2).
const KitPathPattern = CallbackPathPrefix + "{product}" + koogallery.KitPathPrefix + "{interface}"

// Kit request headers (spec §2.2).
const (
	kitSignHeader      = "x-sign"
	kitTimestampHeader = "x-timestamp"
	kitNonceHeader     = "x-nonce"
)

func init() {
	// The kit interfaces are bounded label values of the callback metrics.
	for _, k := range koogallery.KitInterfaces {
		knownActivities[koogallery.Activity(k)] = true
	}
}

// kitCall is one verified kit call on its way through a handler.
type kitCall struct {
	*call
	name   koogallery.KitInterface
	secret *corev1.Secret // the product's keys Secret
}

// kitHandlerFunc handles one verified, decoded kit call.
type kitHandlerFunc func(ctx context.Context, c *kitCall) error

func (r *Receiver) kitHandlers() map[koogallery.KitInterface]kitHandlerFunc {
	return map[koogallery.KitInterface]kitHandlerFunc{
		koogallery.KitTenantSync:      r.tenantSync,
		koogallery.KitApplicationSync: r.applicationSync,
		koogallery.KitAuthSync:        r.authSync,
		koogallery.KitSingleOrgSync:   r.singleOrgSync,
		koogallery.KitAllOrgSync:      r.allOrgSync,
	}
}

// serveKit runs a kit call through the same pipeline as a basic callback,
// with the kit key and headers: read, find the product, verify, decode,
// handle, answer. Every answer is HTTP 200 with JSON.
func (r *Receiver) serveKit(w http.ResponseWriter, req *http.Request) {
	ctx, cancel, c := r.begin(req)
	defer cancel()
	defer r.recoverPanic(w, c)
	err := r.processKit(ctx, req, &kitCall{call: c})
	// Kit answers carry no Body-Sign: the kit signs requests only (§2.2).
	r.finish(w, c, reply{}, err, "")
}

func (r *Receiver) processKit(ctx context.Context, req *http.Request, c *kitCall) error {
	if req.Method != http.MethodPost {
		return errMethodNotAllowed(req.Method, "kit calls")
	}
	c.name = koogallery.KitInterface(req.PathValue("interface"))
	handle, ok := r.kitHandlers()[c.name]
	if !ok {
		return errBadParam("kit interface %s is not supported", koogallery.NameOrWithheld(string(c.name)))
	}
	c.activity = koogallery.Activity(c.name)
	body, release, err := readBodyWithinBudget(req, r.kitBodyLimit(c.name), r.bodies)
	defer release()
	if err != nil {
		return err
	}
	if c.product, err = r.product(ctx, req.PathValue("product")); err != nil {
		return err
	}
	err = r.verifyKitCall(ctx, req, c, body)
	r.observeTimestamp(req.Header.Get(kitTimestampHeader), err)
	if err != nil {
		return err
	}
	c.authenticated = true
	c.request, err = koogallery.DecodeKitRequest(c.name, body)
	release() // decoded: the handler needs the body no more
	if err != nil {
		return err
	}
	return handle(ctx, c)
}

// kitBodyLimit is the body limit of a kit interface: the batches of users
// and the whole department tree are larger than the rest (spec §3.11).
func (r *Receiver) kitBodyLimit(name koogallery.KitInterface) int64 {
	switch name {
	case koogallery.KitAuthSync:
		return r.opts.MaxBatchBodyBytes
	case koogallery.KitAllOrgSync:
		return r.opts.MaxOrgTreeBodyBytes
	}
	return r.opts.MaxBodyBytes
}

// verifyKitCall reads the product's keys Secret into c and checks the call's
// signature with its kit keys; a refusal on the cached Secret is checked
// again on the stored one, as for basic callbacks (see verifyBasic).
func (r *Receiver) verifyKitCall(ctx context.Context, req *http.Request, c *kitCall, body []byte) error {
	if !r.verifying.tryAcquire() {
		return errBusy
	}
	defer r.verifying.release()
	var err error
	for fresh := false; ; fresh = true {
		if c.secret, err = r.readKeysSecret(ctx, c.product, fresh); err != nil {
			return err
		}
		keys := keysNamed(c.secret, saasv1alpha1.KitKeySecretKey)
		if len(keys) == 0 {
			err = errInternal("the product's kit key is not configured", nil)
		} else {
			err = r.verifyKit(req, keys, c.product.Name, body)
		}
		if fresh || err == nil || koogallery.CodeOf(err) != koogallery.ResultAuthFailed || !r.keyRereads.allow("kit/"+c.product.Name) {
			return err
		}
	}
}

// verifyKit checks x-sign with every kit key of the product and, once it
// holds, that the nonce was not seen in the window.
func (r *Receiver) verifyKit(req *http.Request, keys []string, productName string, body []byte) error {
	signed := koogallery.SignedQuery{
		Signature: req.Header.Get(kitSignHeader),
		Timestamp: req.Header.Get(kitTimestampHeader),
		Nonce:     req.Header.Get(kitNonceHeader),
	}
	if _, _, err := r.verifier.VerifyKit(keys, signed, body); err != nil {
		return err
	}
	// Claimed as signed, like a basic callback's nonce (see verify).
	switch err := r.nonceRefusal("kit/" + productName + "/" + signed.ReplayKey()); {
	case errors.Is(err, errNonceReused):
		return errBadParam("x-nonce was already used within the %s window", r.opts.SignatureWindow)
	default:
		return err // nil, or errNoncesFull: to be retried, not refused
	}
}

// rsaKey reads the merchant's RSA private key from the product's Secret.
// Parsing costs little next to one RSA decryption, so it is not cached.
func rsaKey(secret *corev1.Secret) (*rsa.PrivateKey, error) {
	data := secret.Data[saasv1alpha1.RSAPrivateKeySecretKey]
	if len(data) == 0 {
		return nil, errInternal("the product's rsaPrivateKey is not configured", nil)
	}
	key, err := koogallery.ParseRSAPrivateKey(data)
	if err != nil {
		return nil, errInternal("the product's rsaPrivateKey cannot be used", err)
	}
	return key, nil
}
