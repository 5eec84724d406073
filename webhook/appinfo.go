package webhook

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/credentials"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/metering"
)

// instanceInfo is what the marketplace shows the buyer about one instance:
// appInfo once the tenant's access details were delivered, nothing more
// before. pending is true only while a SaaS tenant was never delivered; a
// licence (see licenseInfo) and a released tenant are not pending.
func (r *Receiver) instanceInfo(ctx context.Context, c *call, s subscription) (info koogallery.InstanceInfo, pending bool, err error) {
	info = koogallery.InstanceInfo{InstanceID: s.object.GetName()}
	if license, ok := s.object.(*saasv1alpha1.License); ok {
		return r.licenseInfo(ctx, c, license)
	}
	tenant, ok := s.object.(*saasv1alpha1.SaaSTenant)
	if !ok {
		return info, false, nil
	}
	info.UsageInfo = usageInfo(tenant)
	switch TenantAppInfo(tenant).Answer {
	case AppInfoPackage:
		info.UsageInfo = r.packageUsage(ctx, tenant)
		return info, false, nil
	case AppInfoReleased, AppInfoGone:
		return info, false, nil
	case AppInfoPending:
		return info, true, nil
	}
	info.AppInfo, err = r.appInfo(ctx, c.key, tenant)
	return info, false, err
}

// purchaseInfo is instanceInfo for the answer to a newInstance whose
// record is stored. When appInfo cannot be built (the credentials key
// missing or another key, a licence key unreadable) the purchase is answered
// without it, not 000005: spec §3.2 lets appInfo come later, by
// queryInstance, which still answers 000005 for it (asked alone; an answer
// about several leaves it out, see leaveOut), while a newInstance
// answered 000005 is retried for 3 hours and then fails the paid order
// (§1.7), though the tenant runs. The cause is logged: it names keys and
// Secrets, never a credential or a buyer's data.
func (r *Receiver) purchaseInfo(ctx context.Context, c *call, s subscription) (koogallery.InstanceInfo, bool) {
	info, pending, err := r.instanceInfo(ctx, c, s)
	if err != nil {
		ctrl.LoggerFrom(ctx).WithName("receiver").Error(err, "Purchase answered without appInfo, which cannot be built; queryInstance answers 000005 until it can",
			"product", c.product.Name, "instanceId", c.instanceID, "orderId", c.orderID)
		return koogallery.InstanceInfo{InstanceID: c.instanceID}, false
	}
	return info, pending
}

// failedInstance is an instance of a queryInstance that cannot be answered
// now, and why.
type failedInstance struct {
	id  string
	err error
}

// leaveOut logs each instance left out of an answer that lists others, with
// its cause, as purchaseInfo logs a purchase answered without appInfo: the
// cause names keys, Secrets and instance IDs, never a credential or a
// buyer's data. The marketplace sees such an instance as not found until it
// can be answered again.
func (r *Receiver) leaveOut(ctx context.Context, c *call, failures []failedInstance) {
	log := ctrl.LoggerFrom(ctx).WithName("receiver")
	instancesLeftOut.WithLabelValues(c.product.Name).Add(float64(len(failures)))
	for _, f := range failures {
		log.Error(f.err, "Instance left out of a queryInstance answer about several; asked for alone it is answered 000005 until it can be answered",
			"product", c.product.Name, "instanceId", f.id)
	}
}

// AppInfoAnswer is what queryInstance answers about a SaaS tenant's access
// details (spec §3.3).
type AppInfoAnswer string

const (
	// AppInfoDelivered: the answer carries appInfo (URLs and encrypted
	// credentials, derived from the credentials key; for a tenant an
	// earlier kooper made, read from its copy in kooper's namespace).
	AppInfoDelivered AppInfoAnswer = "Delivered"
	// AppInfoPending: no appInfo yet; the instance is still provisioning.
	AppInfoPending AppInfoAnswer = "Pending"
	// AppInfoPackage: no appInfo ever; a package has no access details of
	// its own (docs/packages.md), only usageInfo.
	AppInfoPackage AppInfoAnswer = "Package"
	// AppInfoReleased: no appInfo any more; the tenant is released.
	AppInfoReleased AppInfoAnswer = "Released"
	// AppInfoGone: no appInfo any more; the tenant's record is being
	// deleted (by hand, or by its debug TTL), so its workload and
	// credentials are going, and the instance is answered as a gone one
	// (docs/lifecycle.md rule B), while a finalizer (the last hour's usage)
	// holds the record.
	AppInfoGone AppInfoAnswer = "Gone"
)

// AppInfoDecision is TenantAppInfo's answer and why, in one sentence.
type AppInfoDecision struct {
	Answer AppInfoAnswer
	Reason string
}

// TenantAppInfo decides whether queryInstance returns appInfo for t now.
// The receiver answers with it, and `kubectl kooper describe` shows it, so
// both always agree.
func TenantAppInfo(t *saasv1alpha1.SaaSTenant) AppInfoDecision {
	switch {
	case t.Status.Package != nil:
		return AppInfoDecision{AppInfoPackage, "a package has no access details of its own, only usageInfo"}
	case t.Spec.State == saasv1alpha1.StateReleased:
		return AppInfoDecision{AppInfoReleased, "the tenant is released"}
	case !t.DeletionTimestamp.IsZero():
		return AppInfoDecision{AppInfoGone, "the tenant's record is being deleted: it is answered as a gone instance, without appInfo"}
	case !serving(t):
		return AppInfoDecision{AppInfoPending, "the tenant's access details were never delivered: not Ready yet, or its URLs, namespace or credentials not recorded"}
	}
	return AppInfoDecision{AppInfoDelivered, "the tenant's access details were delivered (Ready once, Active or Frozen)"}
}

// serving reports whether the buyer can be given the tenant's access
// details. Once the controller recorded them as delivered (firstReadyTime),
// they stay available while the tenant is Active or Frozen, Ready or not:
// every rolling update makes Ready False for a while, and withholding
// appInfo then would look like a tenant still being provisioned. Ready and
// Frozen still count on their own, for tenants recorded by a controller
// that did not set firstReadyTime yet, and for a tenant frozen before it
// was ever Ready (docs/lifecycle.md: a Frozen tenant answers appInfo).
func serving(t *saasv1alpha1.SaaSTenant) bool {
	if t.Status.FrontEndURL == "" || t.Status.CredentialsSecretName == "" || t.Status.Namespace == "" {
		return false
	}
	return t.Status.FirstReadyTime != nil ||
		apimeta.IsStatusConditionTrue(t.Status.Conditions, saasv1alpha1.ReadyCondition) ||
		apimeta.IsStatusConditionTrue(t.Status.Conditions, saasv1alpha1.FrozenCondition)
}

// appInfo encrypts the tenant's credentials with the key that signed the
// request, as the marketplace expects (spec §4.1).
func (r *Receiver) appInfo(ctx context.Context, key string, t *saasv1alpha1.SaaSTenant) (*koogallery.AppInfo, error) {
	username, password, err := r.credentialsOf(ctx, t)
	if err != nil {
		return nil, err
	}
	user, err := koogallery.EncryptCredential(key, koogallery.EncryptAES256, username)
	if err != nil {
		return nil, errInternal("the tenant's user name cannot be encrypted", err)
	}
	encrypted, err := koogallery.EncryptCredential(key, koogallery.EncryptAES256, password)
	if err != nil {
		return nil, errInternal("the tenant's password cannot be encrypted", err)
	}
	return &koogallery.AppInfo{FrontEndURL: t.Status.FrontEndURL, AdminURL: t.Status.AdminURL, UserName: user, Password: encrypted}, nil
}

// credentialsOf returns the tenant's admin user name and password. A
// password derived from the credentials key (status names the key) is
// derived again from the key in the cache, with no request; a key there
// of another fingerprint is an error, never another password. The
// password of a tenant an earlier kooper drew at random is read from its
// copy in kooper's namespace (one GET: the receiver may not read tenant
// namespaces).
func (r *Receiver) credentialsOf(ctx context.Context, t *saasv1alpha1.SaaSTenant) (string, string, error) {
	if id := t.Status.CredentialsKeyID; id != "" {
		secret := &corev1.Secret{}
		ref := types.NamespacedName{Namespace: r.opts.Namespace, Name: saasv1alpha1.CredentialsKeySecretName}
		err := r.client.Get(ctx, ref, secret, client.UnsafeDisableDeepCopy)
		if apierrors.IsNotFound(err) {
			// A cache a moment behind the key's creation, for the first
			// tenants: confirmed with the API server.
			err = r.reader.Get(ctx, ref, secret)
		}
		if err != nil {
			return "", "", errInternal("the credentials key cannot be read", err)
		}
		derived, err := credentials.NewKey(secret.Data[saasv1alpha1.CredentialsKeySecretKey])
		if err == nil && derived.ID() != id {
			err = fmt.Errorf("the tenant's password was derived from key %s, Secret %s holds key %s", id, ref, derived.ID())
		}
		if err != nil {
			return "", "", errInternal("the credentials key is not the tenant's", err)
		}
		password, err := derived.Password(t.Spec.InstanceID)
		if err != nil {
			return "", "", errInternal("the tenant's password cannot be derived", err)
		}
		return credentials.Username, password, nil
	}
	secret := &corev1.Secret{}
	ref := types.NamespacedName{Namespace: r.opts.Namespace, Name: saasv1alpha1.CredentialsCopyName(t.Name)}
	if err := r.reader.Get(ctx, ref, secret); err != nil {
		return "", "", errInternal("the tenant's credentials cannot be read", err)
	}
	return string(secret.Data[saasv1alpha1.CredentialsUsernameKey]), string(secret.Data[saasv1alpha1.CredentialsPasswordKey]), nil
}

// usageInfo reports a metered tenant's cumulative usage as pushed to the
// marketplace, one entry per meter, then one per package that funds it
// with what that package paid for (docs/packages.md decision 9), as of the
// end of the last pushed window (spec §3.3). A package metered as a tenant
// of its own (a product without spec.packages) relates its usage to
// itself (§6.8).
func usageInfo(t *saasv1alpha1.SaaSTenant) []koogallery.UsageInfo {
	m := t.Status.Metering
	if m == nil || m.PushedUntil == nil {
		return nil
	}
	related := ""
	if t.Status.Order != nil && t.Status.Order.ChargingMode == saasv1alpha1.ChargingOnDemandPackage {
		related = t.Spec.InstanceID
	}
	out := make([]koogallery.UsageInfo, 0, len(m.Meters))
	for _, u := range m.Meters {
		total, err := koogallery.ParseUsageUnits(u.Total)
		if err != nil {
			continue
		}
		out = append(out, koogallery.UsageInfo{
			RelatedInstanceID: related, UsageValue: json.Number(total.String()),
			StatisticalTime: koogallery.FormatTimestamp17(m.PushedUntil.Time),
		})
	}
	for i := range m.Packages {
		out = append(out, packageEntry(m, &m.Packages[i]))
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// packageEntry is one package's usageInfo entry from the ledger m holds:
// what it paid for there (consumed − carried: its use by tenants of the
// buyer since released is theirs to report).
func packageEntry(m *saasv1alpha1.TenantMetering, b *saasv1alpha1.PackageBalance) koogallery.UsageInfo {
	return koogallery.UsageInfo{
		RelatedInstanceID: b.InstanceID, UsageValue: json.Number(metering.UsedHere(b).String()),
		StatisticalTime: koogallery.FormatTimestamp17(m.PushedUntil.Time),
	}
}

// packageUsage is a package's usageInfo: all it paid for, from the ledger
// of the tenant it funds (read from the cache) once that tenant pushed a
// window; before, what it had paid for until it moved (consumedBefore);
// nothing when it never paid.
func (r *Receiver) packageUsage(ctx context.Context, pkg *saasv1alpha1.SaaSTenant) []koogallery.UsageInfo {
	p := pkg.Status.Package
	funded := &saasv1alpha1.SaaSTenant{}
	if p.FundsInstanceID != "" && r.client.Get(ctx, types.NamespacedName{Name: p.FundsInstanceID}, funded) == nil {
		if m := funded.Status.Metering; m != nil && m.PushedUntil != nil {
			if b := metering.Balance(m.Packages, pkg.Spec.InstanceID); b != nil {
				return []koogallery.UsageInfo{{RelatedInstanceID: b.InstanceID, UsageValue: json.Number(units(b.Consumed)),
					StatisticalTime: koogallery.FormatTimestamp17(m.PushedUntil.Time)}}
			}
		}
	}
	if p.ConsumedBefore == "" || p.ConsumedUntil == nil {
		return nil
	}
	return []koogallery.UsageInfo{{RelatedInstanceID: pkg.Spec.InstanceID, UsageValue: json.Number(units(p.ConsumedBefore)),
		StatisticalTime: koogallery.FormatTimestamp17(p.ConsumedUntil.Time)}}
}

// units writes a stored usage decimal as usageInfo's number, 0 when it
// does not parse.
func units(decimal string) string {
	u, err := koogallery.ParseUsageUnits(decimal)
	if err != nil {
		return "0"
	}
	return u.String()
}
