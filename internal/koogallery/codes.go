// Package koogallery implements the Huawei Cloud KooGallery (云商店) SaaS V2.0
// marketplace protocol: callback signatures, the canonical payload they are
// computed over, typed callback requests and responses, the AES encryption of
// credentials returned to buyers, and the AK/SK-signed open-API client.
//
// The contract is spec/koogallery-saas-v2.md; section numbers in comments
// (§2.1, §4.1, ...) refer to it. The package has no Kubernetes dependencies so
// that the webhook, the controllers and the marketplace simulator can share it.
package koogallery

// ResultCode is the six-digit resultCode the merchant answers every basic
// callback with (§5). Only ResultSuccess counts as success.
type ResultCode string

// Result codes of §5.
const (
	// ResultSuccess means the callback was processed, including idempotent repeats.
	ResultSuccess ResultCode = "000000"
	// ResultAuthFailed means the signature was missing or did not match.
	ResultAuthFailed ResultCode = "000001"
	// ResultInvalidParam means a missing or malformed field, a missing
	// timestamp or nonce, or a timestamp outside the window.
	ResultInvalidParam ResultCode = "000002"
	// ResultInstanceNotFound means the instanceId is unknown.
	ResultInstanceNotFound ResultCode = "000003"
	// ResultProcessing means the request was accepted and is processed
	// asynchronously (newInstance, and queryInstance while provisioning).
	ResultProcessing ResultCode = "000004"
	// ResultInternalError means an unexpected merchant-side failure; the
	// marketplace retries.
	ResultInternalError ResultCode = "000005"
	// ResultNoResources means no instance resources are available.
	ResultNoResources ResultCode = "000100"
	// ResultAppSecretError is the docs' "mobile number empty or already used"
	// and the sample's "something wrong with appSecret" (§8 item 17).
	ResultAppSecretError ResultCode = "000101"
	// ResultEmailInUse means the e-mail is empty or already used.
	ResultEmailInUse ResultCode = "000102"
	// ResultNoRepurchase means the buyer may not purchase the product again.
	ResultNoRepurchase ResultCode = "000103"
	// ResultServiceError is a merchant-side service failure.
	ResultServiceError ResultCode = "000104"
	// ResultBenefitHeld means the account already holds the benefit, for
	// example a trial was already used.
	ResultBenefitHeld ResultCode = "000105"
	// ResultSoldOut means the stock is exhausted.
	ResultSoldOut ResultCode = "000106"
	// ResultEmailDomainInUse means the emailDomainName extended parameter is
	// already registered.
	ResultEmailDomainInUse ResultCode = "000107"
	// ResultLicenseQuotaInsufficient means the licence quota of the
	// instance's current order is exhausted (getLicenseAsync).
	ResultLicenseQuotaInsufficient ResultCode = "000900"
	// ResultLicenseOutsideOrderValidity means a licence was requested outside
	// the current order's validity (getLicenseAsync).
	ResultLicenseOutsideOrderValidity ResultCode = "000901"
	// ResultLicenseNeedsExpiry means a periodic licence needs an expiry date
	// (getLicenseAsync).
	ResultLicenseNeedsExpiry ResultCode = "000902"
	// ResultLicenseNeedsFingerprint means a device fingerprint or hardware ID
	// is required (getLicenseAsync).
	ResultLicenseNeedsFingerprint ResultCode = "000903"
)

// Activity is the body field that names the scenario of a basic callback
// (§1.3).
type Activity string

// Activities of the basic and licence callbacks.
const (
	// ActivityNewInstance creates an instance for a paid (or trial) order (§3.2).
	ActivityNewInstance Activity = "newInstance"
	// ActivityQueryInstance asks for instance information (§3.3).
	ActivityQueryInstance Activity = "queryInstance"
	// ActivityRefreshInstance renews, converts or shortens an instance (§3.4).
	ActivityRefreshInstance Activity = "refreshInstance"
	// ActivityUpdateInstanceStatus freezes or unfreezes an instance (§3.5).
	ActivityUpdateInstanceStatus Activity = "updateInstanceStatus"
	// ActivityReleaseInstance deletes an instance (§3.6).
	ActivityReleaseInstance Activity = "releaseInstance"
	// ActivityUpgradeInstance applies a paid upgrade order (§3.7).
	ActivityUpgradeInstance Activity = "upgradeInstance"
	// ActivityChangeInstanceCheck asks whether a renewal change is possible (§3.8).
	ActivityChangeInstanceCheck Activity = "changeInstanceCheck"
	// ActivityGetLicenseAsync asks for a licence to be generated and uploaded (§3.10).
	ActivityGetLicenseAsync Activity = "getLicenseAsync"
	// ActivityOrderNotify notifies an order; the merchant reads it with
	// Query Order (§3.9).
	ActivityOrderNotify Activity = "orderNotify"
)

// Scene says why refreshInstance was sent (§3.4).
type Scene string

// Scenes of refreshInstance.
const (
	// SceneTrialToFormal converts a trial into a paid subscription.
	SceneTrialToFormal Scene = "TRIAL_TO_FORMAL"
	// SceneRenewal extends a paid subscription.
	SceneRenewal Scene = "RENEWAL"
	// SceneUnsubscribeRenewalPeriod moves the expiry earlier after renewal
	// periods were unsubscribed.
	SceneUnsubscribeRenewalPeriod Scene = "UNSUBSCRIBE_RENEWAL_PERIOD"
	// SceneRenewalChange renews with a specification change.
	SceneRenewalChange Scene = "RENEWAL_CHANGE"
)

// InstanceStatus is the target status of updateInstanceStatus (§3.5).
type InstanceStatus string

// Instance statuses.
const (
	// StatusFreeze stops the service but keeps the data (expiry, at most 15 days).
	StatusFreeze InstanceStatus = "FREEZE"
	// StatusUnfreeze resumes the service after a renewal during the freeze.
	StatusUnfreeze InstanceStatus = "UNFREEZE"
)
