package webhook

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// maxMemoLength is appInfo.memo's bound (spec §3.2).
const maxMemoLength = 1024

// licenseInfo is what the buyer of a licence sees: the licence key itself
// in appInfo.memo, once it is issued, and nothing while it is revoked. A
// licence key is ASCII (base64url), so memo needs no escaping. A licence is
// never pending: until its key is issued the answer is 000000 without
// appInfo, whatever PendingResultCode says, so a licence that cannot be
// issued (no signing key) never keeps the marketplace polling.
func (r *Receiver) licenseInfo(ctx context.Context, c *call, l *saasv1alpha1.License) (koogallery.InstanceInfo, bool, error) {
	info := koogallery.InstanceInfo{InstanceID: l.Name}
	switch {
	case l.Spec.State != saasv1alpha1.StateActive || !l.DeletionTimestamp.IsZero():
		return info, false, nil
	case l.Status.LicenseKeyRef == nil || !apimeta.IsStatusConditionTrue(l.Status.Conditions, saasv1alpha1.IssuedCondition):
		return info, false, nil
	}
	ref := l.Status.LicenseKeyRef
	secret := &corev1.Secret{}
	// The key Secret lives in kooper's namespace; the receiver caches only
	// the products' keys there, so this is one direct read.
	if err := r.reader.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, secret); err != nil {
		return info, false, errInternal("the licence key cannot be read", err)
	}
	key := string(secret.Data[ref.Key])
	if key == "" {
		return info, false, nil
	}
	memo := key
	if len(memo) > maxMemoLength {
		// Too many features for the memo field: say so rather than truncate a key.
		memo = "The licence key is longer than appInfo allows; the merchant delivers it separately (key ID " + l.Status.KeyID + ")"
	}
	info.AppInfo = &koogallery.AppInfo{FrontEndURL: frontEndURL(c.product, l.Name), Memo: memo}
	return info, false, nil
}

// frontEndURL renders the product's frontEndUrl template for a licence,
// with the bounds of every URL template (a template that ran for ever
// would hold the receiver's callback, and its CPU), or is empty when a
// License product names none or its template does not render.
func frontEndURL(product *saasv1alpha1.SaaSProduct, instanceID string) string {
	url, err := tenantobjects.RenderFrontEndURL(product, instanceID, "")
	if err != nil {
		return ""
	}
	return url
}
