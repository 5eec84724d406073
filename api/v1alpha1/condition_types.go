package v1alpha1

// Condition types. Ready is the summary condition of every kind. Reconciling
// and Stalled follow kstatus: True means work is in progress, or something is
// wrong that only a change of input can fix. Every other type is a domain
// condition whose polarity is given beside it.
const (
	// ReadyCondition is the summary: True when the object is healthy and serving
	// as its spec asks (a tenant that is running, a product that is usable, a
	// licence that is issued and delivered).
	ReadyCondition = "Ready"

	// ReconcilingCondition is True while kooper is still working towards the
	// spec (abnormal-true).
	ReconcilingCondition = "Reconciling"

	// StalledCondition is True when kooper cannot make progress until its input
	// changes, for example a tenant whose product or plan does not exist
	// (abnormal-true).
	StalledCondition = "Stalled"

	// ProvisionedCondition is True when every object of a tenant has been
	// applied (normal-true).
	ProvisionedCondition = "Provisioned"

	// AvailableCondition is True when a tenant's workload has its desired
	// replicas available (normal-true).
	AvailableCondition = "Available"

	// FrozenCondition is True while a tenant or licence is frozen: service
	// stopped, data kept (abnormal-true).
	FrozenCondition = "Frozen"

	// ReleasedCondition is True once a tenant or licence has been released
	// (abnormal-true).
	ReleasedCondition = "Released"

	// ExpiredCondition is True when expireTime plus the product's grace period
	// has passed without a marketplace callback (abnormal-true).
	ExpiredCondition = "Expired"

	// ExpiringSoonCondition is True while an Active tenant is within one of
	// its product's expiry notice thresholds before expireTime
	// (lifecycle.expiry.noticeSeconds) or in the grace period after it, with
	// the time left in the message (abnormal-true). It turns False on
	// renewal (NotExpiring) and once the grace period is over (Expired); a
	// tenant never within a notice has none.
	ExpiringSoonCondition = "ExpiringSoon"

	// OrderResolvedCondition is True once the order behind a tenant or licence
	// has been read from the marketplace's Query Order API (normal-true).
	OrderResolvedCondition = "OrderResolved"

	// IssuedCondition is True when a licence key for the current window and
	// plan has been signed and stored (normal-true).
	IssuedCondition = "Issued"

	// DeliveredCondition is True when an asynchronous licence has been
	// uploaded to the marketplace (normal-true).
	DeliveredCondition = "Delivered"

	// KeysAvailableCondition is True when a product's marketplace keys Secret
	// exists and holds the keys its product type needs (normal-true).
	KeysAvailableCondition = "KeysAvailable"

	// ChartReadyCondition is True when a product's chart is fetched, loads,
	// renders for an example tenant of every plan without an object a
	// tenant may not hold, and is resolved to a digest in status.chart
	// (normal-true).
	ChartReadyCondition = "ChartReady"

	// PlansValidCondition is True when every plan of a product can run its
	// tenants: its quota holds their pods at the peak of a rolling update
	// (replicas plus the surge pod), at the plan's resources (normal-true).
	PlansValidCondition = "PlansValid"

	// URLsValidCondition is True when a product's URL templates give every
	// tenant URLs of its own: they render, within 512 characters, to a host
	// that is a DNS name and, with an Ingress, differs from tenant to tenant
	// (normal-true). While it is False no tenant of the product is provisioned.
	URLsValidCondition = "URLsValid"

	// EgressRestrictedCondition is True when a SaaS product lists no
	// workload.egress, so its tenants may connect only to DNS and their own
	// namespace (and, for a joint-operation product, to TCP 443 outside the
	// cluster). It informs and is not part of Ready: many apps need nothing
	// else. It turning True while tenants run (the first reconcile after
	// upgrading from a kooper without tenant egress rules, or an allow list
	// removed) is a Warning Event EgressRestricted on the product.
	EgressRestrictedCondition = "EgressRestricted"

	// MetersValidCondition is set on a product with metering: True when
	// every meter measures each tenant's own usage (normal-true); False
	// when a meter would bill wrongly, which no tenant condition shows:
	// QueryNotPerTenant, a Prometheus query that renders the same for
	// every tenant, so every buyer is billed the total of all;
	// MeterMeasuresNothing, a meter that bills 0 every hour on some or all
	// plans (a built-in meter of a quantity the product does not declare,
	// a query that does not render); NoMonitoringNamespace, a Prometheus
	// meter of tenants that run pods while the controllers run without
	// --monitoring-namespace, so no Prometheus can scrape them and a query
	// of what the app exposes finds nothing. Its reason is the first of
	// these that applies, its message names every such meter and why. It
	// warns and is not part of Ready, which says whether tenants can be
	// provisioned and served: they can, and a tenant already sold must
	// keep running whatever its meter. Turning False, or saying another
	// problem while False, is a Warning Event with its reason on the
	// product.
	MetersValidCondition = "MetersValid"

	// MeteredCondition is True when a pay-per-use tenant's usage has been
	// pushed up to the last closed hour (normal-true). It lives in
	// status.metering.conditions, written only by the metering controller.
	MeteredCondition = "Metered"

	// PackagesExhaustedCondition is True when a tenant funded by packages
	// (a product with spec.packages) has no package with quota left
	// (abnormal-true). It lives in status.metering.conditions, written only
	// by the metering controller (docs/packages.md).
	PackagesExhaustedCondition = "PackagesExhausted"

	// RolledOutCondition is True on a SaaS product when every tenant runs
	// the product's newest revision and is healthy on it (normal-true); False
	// with reason Progressing while waves are under way, WaveFailed when a
	// wave paused the rollout, RevisionNotStored when the newest revision
	// cannot be stored, TenantsNotTold when tenants of a wave could not be
	// told to run it (docs/rollout.md).
	RolledOutCondition = "RolledOut"
)

// Condition reasons: CamelCase, one word each, also used as Event reasons.
const (
	// SucceededReason: the step the condition describes completed.
	SucceededReason = "Succeeded"

	// ChartFetchFailedReason: the product's chart could not be fetched from
	// its registry or Secret, or does not load, or its Chart.yaml's name or
	// version is longer than status.chart holds (253, 128 characters).
	ChartFetchFailedReason = "ChartFetchFailed"

	// ChartObjectRefusedReason: the chart renders an object a tenant's
	// namespace may not hold (docs/chart-tenants.md).
	ChartObjectRefusedReason = "ChartObjectRefused"

	// ChartRenderFailedReason: the chart does not render with the tenant's
	// values (a template error).
	ChartRenderFailedReason = "ChartRenderFailed"

	// ChartNotDeterministicReason: the chart renders differently each time
	// for the same tenant and values, as a value it makes up at render time
	// does (randAlphaNum, uuidv4, genCA, now; `lookup` finds nothing in
	// kooper), so each fresh render (a restart of the controllers, a
	// failover, an upgrade, a render cache eviction) would change every
	// tenant's objects. The product's ChartReady names the first object and
	// field that differ, and the chart is not recorded in status.chart
	// (docs/chart-tenants.md).
	ChartNotDeterministicReason = "ChartNotDeterministic"

	// PlanChangeRefusedReason: two of a chart product's plans render an
	// object differently in a field the API server will not change on an
	// existing object (a StatefulSet's volumeClaimTemplates, a selector, a
	// Job's template): a tenant changing between them stalls with
	// ObjectInvalid.
	PlanChangeRefusedReason = "PlanChangeRefused"

	// WorkloadRemovedReason: the tenant is released; its workload is
	// removed, so Available no longer says what it last observed.
	WorkloadRemovedReason = "WorkloadRemoved"

	// ObjectInvalidReason: the API server refuses an object kooper applies
	// in the tenant's namespace as invalid, most often a change to a field
	// it cannot change (a StatefulSet's volumeClaimTemplates, a selector, a
	// Job's template, a smaller volume): only a change of the product, the
	// plan or the chart, or removing the object by hand, can help.
	ObjectInvalidReason = "ObjectInvalid"
	// ProgressingReason: kooper is working on it.
	ProgressingReason = "Progressing"
	// SecretNotCopyableReason: a Secret the product names for its tenants
	// (TLS, image pull) lacks the copy-to-tenants label or has the wrong type.
	SecretNotCopyableReason = "SecretNotCopyable"
	// ProductNotFoundReason: the SaaSProduct named by a tenant or licence does not exist.
	ProductNotFoundReason = "ProductNotFound"
	// PlanNotFoundReason: the product has no plan for the order's skuCode.
	PlanNotFoundReason = "PlanNotFound"
	// OrderNotifiedReason: an orderNotify callback's order was resolved with
	// Query Order (an Event on the product).
	OrderNotifiedReason = "OrderNotified"
	// OrderNotificationUnresolvedReason: an orderNotify record reached the
	// end of its retention without Query Order resolving it (a Warning Event
	// on the product).
	OrderNotificationUnresolvedReason = "OrderNotificationUnresolved"
	// OrderQueryFailedReason: Query Order failed; kooper retries with backoff.
	OrderQueryFailedReason = "OrderQueryFailed"
	// NotMeteredReason: a tenant's OrderResolved is True, but its order is
	// pay-per-use (OnDemand, or OnDemandPackage and not a package) and its
	// product meters nothing (no spec.metering.meters): the tenant is
	// served and its usage is not billed. Ready does not wait on it; its
	// appearance is a Warning Event. It is also Metered=False's reason on a
	// tenant whose product no longer meters it (its meters removed, or its
	// order no longer pay-per-use): nothing of it is measured or pushed,
	// and its message says since when.
	NotMeteredReason = "NotMetered"
	// ChargingModeUnknownReason: a tenant's OrderResolved is True, but
	// Query Order's chargingMode is none of PERIOD, ONE_TIME, ON_DEMAND and
	// ON_DEMAND_PKG; the message quotes it. status.order.chargingMode is
	// left unset, so the tenant is served, not metered and not a package.
	// Ready does not wait on it; its appearance is a Warning Event.
	ChargingModeUnknownReason = "ChargingModeUnknown"
	// CreateTimeUnknownReason: a tenant's OrderResolved is True, but Query
	// Order gave no createTime that parses for orders its plan or expiry
	// is sequenced by (docs/lifecycle.md rules E and P); the message names
	// them. Each keeps its arrival place among the orders sequenced by
	// createTime. Ready does not wait on it; its appearance is a Warning
	// Event.
	CreateTimeUnknownReason = "CreateTimeUnknown"
	// KeysSecretNotFoundReason: the marketplace keys Secret does not exist.
	KeysSecretNotFoundReason = "KeysSecretNotFound"
	// KeysSecretIncompleteReason: the marketplace keys Secret lacks a
	// required key, or holds one that cannot be used (a licenseSigningKey
	// that is not a PEM Ed25519 private key, an rsaPrivateKey that is not a
	// PEM RSA key of at least 3072 bits).
	KeysSecretIncompleteReason = "KeysSecretIncomplete"
	// WorkloadUnavailableReason: the tenant's Deployment has fewer available replicas than desired.
	WorkloadUnavailableReason = "WorkloadUnavailable"
	// FrozenByMarketplaceReason: the marketplace sent updateInstanceStatus FREEZE.
	FrozenByMarketplaceReason = "FrozenByMarketplace"
	// FrozenByExpiryReason: the expiry safety net froze the tenant locally.
	FrozenByExpiryReason = "FrozenByExpiry"
	// FrozenByExhaustionReason: the tenant's packages are used up and its
	// product says spec.packages.onExhausted Freeze.
	FrozenByExhaustionReason = "FrozenByExhaustion"
	// PackagesUsedUpReason: PackagesExhausted is True: every package the
	// tenant holds is used up, expired or released.
	PackagesUsedUpReason = "Exhausted"
	// NoPackageReason: PackagesExhausted is True: the buyer holds no package.
	NoPackageReason = "NoPackage"
	// QuotaLeftReason: PackagesExhausted is False: some package has quota left.
	QuotaLeftReason = "QuotaLeft"
	// PackageLinkedReason: a package is recorded and funds a pay-per-use tenant.
	PackageLinkedReason = "PackageLinked"
	// WaitingForPayPerUseTenantReason: a package whose buyer has no
	// pay-per-use tenant yet.
	WaitingForPayPerUseTenantReason = "WaitingForPayPerUseTenant"
	// NoPackageTermsReason: a package order whose plan has no package terms.
	NoPackageTermsReason = "NoPackageTerms"
	// PackageLedgerFullReason, a Warning Event on a pay-per-use tenant:
	// packages fund it that its ledger (status.metering.packages, 64
	// entries, each a package still funding it) has no room for; they pay
	// for nothing until a release or deletion makes room.
	PackageLedgerFullReason = "PackageLedgerFull"
	// ExpiringSoonReason: ExpiringSoon is True before expireTime, a notice
	// threshold crossed; also the reason of the Warning Event at each one.
	ExpiringSoonReason = "ExpiringSoon"
	// GracePeriodReason: ExpiringSoon is True past expireTime, within the
	// expiry safety net's grace period; also the reason of its Warning Event.
	GracePeriodReason = "ExpiryGracePeriod"
	// NotExpiringReason: ExpiringSoon is False: renewed, expireTime beyond
	// every notice threshold again.
	NotExpiringReason = "NotExpiring"
	// ReleasedByMarketplaceReason: the marketplace sent releaseInstance.
	ReleasedByMarketplaceReason = "ReleasedByMarketplace"
	// RetainingDataReason: released, and the data is kept until the retention period ends.
	RetainingDataReason = "RetainingData"
	// RetentionWithdrawnReason: released, and a person removed the
	// namespace's delete-after mark: the data is kept until it is deleted
	// by hand, and kooper does not mark it again.
	RetentionWithdrawnReason = "RetentionWithdrawn"
	// DataDeletedReason: released, and the tenant's data has been deleted.
	DataDeletedReason = "DataDeleted"
	// DeletingDataReason: released, and the tenant's namespace is being
	// deleted (Terminating); DataDeleted follows once it is gone.
	DeletingDataReason = "DeletingData"
	// DeletingReason: Ready is False because the SaaSTenant is being
	// deleted (kubectl delete, or its debug TTL) and kooper's finalizer
	// still holds it: its workload is being taken down and its data kept
	// or deleted (lifecycle.release.onHandDeletion). While a step of that
	// fails (a cluster admission policy refusing a deletion, say),
	// Reconciling is True with the error; a metered tenant released but
	// held by saas.kooper.io/metering says so in Ready's message. Not
	// written once kooper's finalizer is removed.
	DeletingReason = "Deleting"
	// RevokedReason: a licence key was revoked (freeze or release).
	RevokedReason = "Revoked"
	// UploadFailedReason: the licence upload to the marketplace failed; kooper retries.
	UploadFailedReason = "UploadFailed"
	// IssueFailedReason: the licence key for the current window and plan
	// could not be signed or stored; kooper retries.
	IssueFailedReason = "IssueFailed"
	// QuotaTooSmallReason: a plan's quota cannot hold its tenants' pods at
	// the peak of a rolling update, so their rollouts would never finish.
	QuotaTooSmallReason = "QuotaTooSmall"
	// VolumeNotSharedReason: a plan runs more than one replica on a volume
	// that is not ReadWriteMany (a product stored before the schema refused
	// it): the replicas on other nodes cannot mount it.
	VolumeNotSharedReason = "VolumeNotShared"
	// NoReplicasReason: a workload product's plan runs no replicas
	// (replicas: 0), so its tenants would be Ready with nothing serving
	// their URLs. A package plan, whose tenants run nothing, may.
	NoReplicasReason = "NoReplicas"
	// ResourcesRefusedReason: a product's resources, storage size or a
	// plan's quota is one the API server refuses in a tenant's objects (a
	// request above its limit, a negative quantity, a volume of no size, a
	// name that is no resource or quota name), so every tenant of the plan
	// would stall with ObjectInvalid.
	ResourcesRefusedReason = "ResourcesRefused"
	// NoMonitoringNamespaceReason: a product has a Prometheus meter, but
	// the controllers run without --monitoring-namespace, so no Prometheus
	// can scrape its tenants' pods (MetersValid).
	NoMonitoringNamespaceReason = "NoMonitoringNamespace"
	// MeterMeasuresNothingReason: a meter of a product bills 0 every hour
	// for the tenants of some or all of its plans (MetersValid): a
	// ReplicaHours, CPUCoreHours, MemoryGiBHours or StorageGiBHours meter
	// of a product without spec.workload (kooper reads those quantities
	// only there), of a plan that runs no replicas or requests no CPU or
	// memory, or of a workload without storage; of a plan whose hour rounds
	// to 0 at the meter's decimals and rounding; or a Prometheus query that
	// does not render.
	MeterMeasuresNothingReason = "MeterMeasuresNothing"
	// QueryNotPerTenantReason: a Prometheus meter's query renders the same
	// for every tenant (it uses neither {{.Namespace}} nor
	// {{.InstanceID}}), so each buyer would be billed what all tenants
	// used together (MetersValid).
	QueryNotPerTenantReason = "QueryNotPerTenant"
	// URLTemplateInvalidReason: a product's URL template does not render, or
	// renders a URL longer than 512 characters or a host that is not a DNS name.
	URLTemplateInvalidReason = "URLTemplateInvalid"
	// NamespaceOfAnotherTenantReason: Stalled is True: the namespace the
	// tenant's product names for it (<namespacePrefix>-<instanceId>) exists
	// labelled as another tenant's (another saas.kooper.io/instance-id or
	// saas.kooper.io/product), as when a product's prefix "tenant-i" and
	// instance "0123" name the namespace of instance "i-0123" under prefix
	// "tenant". kooper records and applies nothing of the tenant's there.
	NamespaceOfAnotherTenantReason = "NamespaceOfAnotherTenant"
	// NamespaceNotKoopersReason: Stalled is True: the namespace the
	// tenant's product names for it (<namespacePrefix>-<instanceId>)
	// already exists and is not labelled as this tenant's
	// (app.kubernetes.io/managed-by=kooper and its saas.kooper.io/instance-id),
	// as when prefix "ingress" and instance "nginx" name a namespace another
	// program made. Checked only before the tenant records a namespace:
	// kooper records and applies nothing of the tenant's there.
	NamespaceNotKoopersReason = "NamespaceNotKoopers"
	// IngressHostNotUniqueReason: a product with an Ingress gives every tenant
	// the same host (no {{.InstanceID}} or {{.Namespace}} in it), so buyers
	// would reach one another's tenants.
	IngressHostNotUniqueReason = "IngressHostNotUnique"
	// EgressRestrictedReason: a product lists no workload.egress; its
	// tenants may connect only to what every tenant may.
	EgressRestrictedReason = "EgressRestricted"
	// EgressAllowListReason: a product lists workload.egress rules.
	EgressAllowListReason = "EgressAllowList"
	// EgressRuleInvalidReason: a product's workload.egress names an address
	// range or label the API server would refuse in a NetworkPolicy (say,
	// an except outside its cidr), so its tenants are not provisioned.
	EgressRuleInvalidReason = "EgressRuleInvalid"
	// IngressSourceInvalidReason: a product's workload.ingress.allowFrom
	// or chart.ingressAllowFrom names an address range the API server would refuse in a
	// NetworkPolicy, so its tenants are not provisioned.
	IngressSourceInvalidReason = "IngressSourceInvalid"
	// SecretNotFoundReason: a Secret the product names (TLS, image pull) does not exist.
	SecretNotFoundReason = "SecretNotFound"
	// ConfigMapNotFoundReason: the ConfigMap a product's workload.config
	// names does not exist in kooper's namespace (or is a directory shard,
	// which kooper's cache leaves out).
	ConfigMapNotFoundReason = "ConfigMapNotFound"
	// ConfigTemplateInvalidReason: a configuration file's template does not
	// parse, or does not render for the tenant (say, an unknown field).
	ConfigTemplateInvalidReason = "ConfigTemplateInvalid"
	// ConfigTooLargeReason: a tenant's rendered configuration files, names
	// included, exceed the 1 MiB a ConfigMap holds.
	ConfigTooLargeReason = "ConfigTooLarge"
	// SimulatedReason: a debug tenant under the Simulate policy runs no workload.
	SimulatedReason = "Simulated"
	// ExpiredReason: expireTime plus the grace period has passed.
	ExpiredReason = "Expired"
	// ProvisioningReason: objects are being applied or the workload is starting.
	ProvisioningReason = "Provisioning"
	// ApplyingReason: a new tenant's namespace is recorded and its objects
	// are being applied. Provisioned turns True in the write that makes the
	// tenant Ready, or at most --provisioned-status-delay after this
	// condition's lastTransitionTime (one status write instead of two: see
	// docs/reference.md, operating knobs).
	ApplyingReason = "Applying"
	// UsagePushFailedReason: the usage push failed as a whole; kooper retries with backoff.
	UsagePushFailedReason = "UsagePushFailed"
	// UsageRejectedReason: the marketplace refused some usage records (codes 001–013).
	UsageRejectedReason = "UsageRejected"
	// UsageExpiredReason: windows older than the marketplace's 21 days were skipped.
	UsageExpiredReason = "UsageExpired"
	// UsageAbandonedReason: a tenant with usage not yet pushed was let go
	// because its product is gone or no longer meters it.
	UsageAbandonedReason = "UsageAbandoned"
	// MeterSourceFailedReason: a meter's source (Prometheus) could not be read.
	MeterSourceFailedReason = "MeterSourceFailed"
	// UsageKeysRefusedReason, a Warning Event on a product: the marketplace
	// refused a usage push for the product's keys as a whole (every basic
	// key's signature, MKT.0102, or the AK/SK, HTTP 401 or MKT.0154). Its
	// tenants' usage waits, unpushed; one tenant tries again now and then,
	// and every tenant as soon as the keys Secret changes.
	UsageKeysRefusedReason = "UsageKeysRefused"
	// InstanceGoneReason: a callback named an instance kooper issued whose
	// record is gone; it was answered 000000 and changed nothing.
	InstanceGoneReason = "InstanceGone"
	// DebugRequestIgnoredReason: a debug callback (testFlag "1") named a
	// Production instance; it was answered 000000 and changed nothing
	// (spec §1.9: debug requests are processed against test data).
	DebugRequestIgnoredReason = "DebugRequestIgnored"
	// StaleFreezeIgnoredReason: a FREEZE arrived while a renewal order's
	// expiry was still ahead; it was answered 000000 and not applied.
	StaleFreezeIgnoredReason = "StaleFreezeIgnored"
	// ReleasedInstanceUnchangedReason: a callback asked to change a released
	// instance; it was answered 000000 and changed nothing.
	ReleasedInstanceUnchangedReason = "ReleasedInstanceUnchanged"
	// InUseReason: deleting a product or keys Secret waits for the tenants,
	// licences or products that still use it.
	InUseReason = "InUse"
	// TombstoneRecordedReason: a deleted record's instance was remembered as
	// issued, so later callbacks for it still succeed.
	TombstoneRecordedReason = "TombstoneRecorded"
	// LostWithCRDReason: a record went because its CRD was being deleted;
	// its instance is remembered as lost, not released, and nothing of it
	// is touched until the record is restored.
	LostWithCRDReason = "LostWithCRD"
	// RestoredReason: a record of an instance lost with its CRD was
	// restored and taken back.
	RestoredReason = "Restored"
	// WaveFailedReason: a rollout wave's tenants did not become healthy on
	// the new revision within progressDeadlineSeconds; the rollout paused.
	WaveFailedReason = "WaveFailed"
	// TenantsNotToldReason: tenants of a rollout wave could not be told to
	// run the new revision (the cluster's admission refused the annotation
	// patch, say); the wave's other tenants were told, the message names
	// each one that was not with the API server's reason, and kooper tries
	// them again with back-off and with each later wave.
	TenantsNotToldReason = "TenantsNotTold"
	// RolloutResumedReason: the merchant resumed a paused rollout.
	RolloutResumedReason = "RolloutResumed"
	// RolloutCompleteReason: every tenant of the product runs its newest
	// revision, healthy (an Event, once per rollout).
	RolloutCompleteReason = "RolloutComplete"
	// WaveStartedReason: a rollout wave's tenants were told to update.
	WaveStartedReason = "WaveStarted"
	// RevisionNotFoundReason: the product revision a tenant is to run is
	// not (yet) stored.
	RevisionNotFoundReason = "RevisionNotFound"
	// RevisionNotStoredReason: the product's newest revision could not be
	// stored as a ControllerRevision, because it is larger than kooper
	// stores (a chart packaged in a Secret is kept inside it) or the API
	// server refused it; no tenant is told to run it, and the message says
	// why.
	RevisionNotStoredReason = "RevisionNotStored"
)

// Reasons of an OrderResolved False whose cause is not Query Order failing
// (OrderQueryFailedReason), so that it is not mistaken for an outage that
// passes; a keys Secret missing or incomplete is KeysSecretNotFoundReason
// or KeysSecretIncompleteReason, as on the product.
const (
	// OrderUnusableReason: Query Order answered with an order kooper cannot
	// use (no line with a product, a productId or skuCode longer than any
	// kooper matches); asking again gives the same answer, and the message
	// says what is wrong.
	OrderUnusableReason = "OrderUnusable"
)

// Reasons of a product's PlansValid about its package plans.
const (
	// PackageQuotaInvalidReason: a package plan's quota or
	// quotaPerLinearValue makes no package quota kooper can count in (a
	// product stored before the schema allowed at most 14 whole digits),
	// so a package bought on it would stall (NoPackageTerms) and fund
	// nothing.
	PackageQuotaInvalidReason = "PackageQuotaInvalid"
)

// Finalizer is added to tenants and licences before any side effect, and
// removed only once the release path has cleaned up and the instance's
// tombstone is stored, so deleting the CR (or its CRD) never cascades into
// tenant data and its instance stays answerable.
const Finalizer = "saas.kooper.io/finalizer"

// InUseFinalizer is on a SaaSProduct while a live tenant or licence names it,
// and on a keys Secret while a product that names it has it, so neither is
// deleted from under the tenants that need it: their callbacks are verified
// with those keys, as Kubernetes keeps a PersistentVolumeClaim a pod uses.
// A tenant is live until it is released and its release is done (and its
// usage pushed); a licence until it is released and revoked. Deleting the
// object waits, with an Event naming what holds it.
const InUseFinalizer = "saas.kooper.io/in-use"

// MeteringFinalizer holds a metered tenant that is deleted by hand until
// the usage of its last hours has been pushed, so no billable record is
// lost with the object. It goes as soon as metering is done, at once when the
// SaaSTenant CRD itself is being deleted, and may be removed by hand to give
// up the unpushed usage.
const MeteringFinalizer = "saas.kooper.io/metering"

// DirectoryFinalizer is on every SaaSDirectory from its creation (the
// receiver creates it with it; the controllers add it to older ones) and
// removed once its shards, which hold joint-operation users' personal data,
// and everything delivered into the tenant namespace are deleted, or, when
// the directory goes with its CRD, kept for the directory restored under
// its name. Shards have no owner reference: the garbage collector would
// delete every tenant's users with the CRD.
const DirectoryFinalizer = "saas.kooper.io/directory-data"

// Labels and annotations kooper puts on what it creates, so they can be found
// with a selector rather than a list-everything loop.
const (
	// CopyToTenantsLabel, set to "true" by the merchant, lets kooper copy a
	// Secret of kooper's namespace into tenant namespaces (a product's TLS
	// or image-pull Secret). Without it a Secret is never copied, so naming
	// a Secret in a product cannot leak one that was never meant to leave.
	CopyToTenantsLabel = "saas.kooper.io/copy-to-tenants"
	// ManagedByLabel marks every object kooper manages; its value is ManagedByValue.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of ManagedByLabel.
	ManagedByValue = "kooper"
	// InstanceIDLabel holds the marketplace instanceId of a tenant's objects.
	InstanceIDLabel = "saas.kooper.io/instance-id"
	// ProductLabel holds the SaaSProduct name of a tenant or licence, and of
	// a product revision (a ControllerRevision in kooper's namespace).
	ProductLabel = "saas.kooper.io/product"
	// DeleteAfterAnnotation on a released tenant's namespace holds the RFC 3339
	// time after which kooper deletes it (the end of the retention period).
	// Remove it to keep the namespace until it is deleted by hand (the
	// tenant's Released condition then says RetentionWithdrawn); change it
	// to keep it longer.
	DeleteAfterAnnotation = "saas.kooper.io/delete-after"
	// LastAppliedHashAnnotation on every object kooper applies in a tenant
	// namespace (and on the namespace) holds a hash of what kooper last
	// applied: when what it would apply has another hash, it applies again,
	// so a field it no longer sets is removed (internal/apply). Removing it
	// by hand costs one apply at the next change.
	LastAppliedHashAnnotation = "saas.kooper.io/last-applied-hash"
	// FieldsOwnerAnnotation, with value Update, marks an object kooper
	// created in a new tenant's namespace rather than applied (a create
	// costs the API server less): its fields belong to kooper's Update
	// manager until the next change, when kooper first gives them to its
	// Apply manager, and the apply then drops the annotation
	// (internal/apply).
	FieldsOwnerAnnotation = "saas.kooper.io/fields-owner"
	// DebugTTLExpiredAnnotation is set by kooper, with the time, on a debug
	// tenant it is about to delete because its debug.ttlSeconds passed: that
	// deletion takes the tenant's data with it. A tenant deleted without it
	// was deleted by hand (see ReleasePolicy.OnHandDeletion).
	DebugTTLExpiredAnnotation = "saas.kooper.io/debug-ttl-expired"
	// ConfigChecksumAnnotation on the pod template of a tenant's Deployment
	// is the SHA-256 of its rendered configuration files (see
	// WorkloadConfig): a change of their content changes it, which rolls the
	// pods. Only workloads with configuration files carry it.
	ConfigChecksumAnnotation = "saas.kooper.io/config-checksum"
	// ReconcileRequestedAnnotation, when changed, makes the controllers
	// reconcile an object again (for example to replay a callback).
	ReconcileRequestedAnnotation = "saas.kooper.io/reconcile-requested-at"
	// RevisionAnnotation on a SaaSTenant names the product revision the
	// rollout told it to run; set only by kooper's rollout (docs/rollout.md).
	// A tenant without it runs the product's status.rollout.currentRevision.
	RevisionAnnotation = "saas.kooper.io/revision"
	// RolloutWaveAnnotation on a SaaSTenant is the rollout wave that set
	// its RevisionAnnotation: the wave whose health the tenant counts in.
	RolloutWaveAnnotation = "saas.kooper.io/rollout-wave"
)

// Keys of a product's marketplace keys Secret (see SaaSProductSpec.KeysSecretName).
const (
	// BasicKeySecretKey holds the "basic interface" key bound to the production
	// URL in the Seller Console: it verifies callback signatures and derives the
	// AES key that encrypts appInfo credentials.
	BasicKeySecretKey = "basicKey"
	// KitKeySecretKey holds the joint-operation sync ("kit") key, for products
	// that receive tenant, application and user sync calls.
	KitKeySecretKey = "kitKey"
	// AccessKeyIDSecretKey holds the merchant account's access key ID (AK) for
	// the marketplace open APIs (Query Order, usage push, licence upload).
	AccessKeyIDSecretKey = "accessKeyId"
	// SecretAccessKeySecretKey holds the merchant account's secret access key (SK).
	SecretAccessKeySecretKey = "secretAccessKey"
	// RSAPrivateKeySecretKey holds the PEM RSA private key that decrypts the
	// kit clientSecret.
	RSAPrivateKeySecretKey = "rsaPrivateKey"
	// LicenseSigningKeySecretKey holds the PEM Ed25519 private key that signs
	// licence keys of a License product.
	LicenseSigningKeySecretKey = "licenseSigningKey"
)

// Keys of a tenant's credentials Secret (see SaaSTenantStatus.CredentialsSecretName).
// The tenant controller writes them; the receiver encrypts them into appInfo.
const (
	// CredentialsUsernameKey holds the tenant's initial admin user name.
	CredentialsUsernameKey = "username"
	// CredentialsPasswordKey holds the tenant's initial admin password.
	CredentialsPasswordKey = "password"
	// CredentialsCopyLabel marks the copy of a tenant's credentials that
	// the tenant controller keeps in kooper's namespace for a tenant whose
	// password an earlier kooper drew at random (no credentialsKeyID), where
	// the receiver may read it (one GET when appInfo is due) without reading
	// Secrets in tenant namespaces; its value is the instance ID.
	CredentialsCopyLabel = "saas.kooper.io/credentials-of"
	// KeysLabel marks a products' keys Secret ("true"): the receiver
	// caches only the Secrets of kooper's namespace that carry it.
	KeysLabel = "saas.kooper.io/keys"
)

// The key tenants' passwords are derived from (internal/credentials): one
// Secret in kooper's namespace, made by the tenant controller when first
// needed and labelled as keys, so the receiver caches it.
const (
	// CredentialsKeySecretName names the Secret holding the key.
	CredentialsKeySecretName = "kooper-credentials-key"
	// CredentialsKeySecretKey holds the key's bytes in that Secret.
	CredentialsKeySecretKey = "key"
)

// CredentialsCopyName is the name, in kooper's namespace, of the copy of
// tenant instanceID's credentials (at most 75 characters: an instance ID
// has at most 63).
func CredentialsCopyName(instanceID string) string { return "credentials-" + instanceID }

// Joint-operation directories (SaaSDirectory): reasons, labels and the names
// of what is delivered into a tenant namespace.
const (
	// WaitingForInstanceReason: the directory's instance does not exist yet (or
	// has no namespace yet); it is delivered once it does.
	WaitingForInstanceReason = "WaitingForInstance"
	// DirectoryDeletedReason: tenantSync deleted the enterprise; nothing is delivered.
	DirectoryDeletedReason = "DirectoryDeleted"
	// InstanceReleasedReason: the instance is released; nothing is delivered.
	InstanceReleasedReason = "InstanceReleased"
	// DeliveryFailedReason: the directory could not be written into the
	// tenant namespace; the tenant keeps the last delivery and kooper retries.
	DeliveryFailedReason = "DeliveryFailed"
	// ClientSecretUndecryptableReason: a stored clientSecret does not decrypt
	// with the product's rsaPrivateKey (the key was changed, or is missing
	// or unusable). The users, departments and tenant.json are delivered
	// still; kooper-sso stays as last delivered (none if never). A Warning
	// Event of this reason marks the change; a new rsaPrivateKey or
	// applicationSync delivers kooper-sso again.
	ClientSecretUndecryptableReason = "ClientSecretUndecryptable"
	// InstanceOfAnotherProductReason: the directory names an instance whose
	// SaaSTenant is another product's (a kit call signed with one product's
	// kitKey carried another product's instanceId). Nothing is delivered,
	// what this directory delivered there before is withdrawn, and a
	// Warning Event of this reason marks the change.
	InstanceOfAnotherProductReason = "InstanceOfAnotherProduct"
	// SeveralApplicationsReason: the directory is delivered (Delivered True),
	// but the enterprise has several applications and the product's SSO
	// gateway names none (spec.workload.sso.gateway.appId): kooper-sso
	// keeps the application it carried, or else carries the most recently
	// synced one, whose users the gateway admits.
	SeveralApplicationsReason = "SeveralApplications"
	// DirectorySyncedReason: a kit call changed the directory (Event reason).
	DirectorySyncedReason = "DirectorySynced"
	// ShardsMovedReason: the directory controller moved shards that an
	// earlier version stored as ConfigMaps into Secrets (Event reason).
	ShardsMovedReason = "ShardsMoved"

	// Why a SaaSDirectory and its shards were deleted (Event reasons): its
	// users' personal data is kept no longer than the tenant it serves.

	// EnterpriseDeletedReason: tenantSync deleted the enterprise (flag 0).
	EnterpriseDeletedReason = "EnterpriseDeleted"
	// InstanceNamespaceDeletedReason: the instance is released (or its
	// SaaSTenant deleted) and its namespace deleted, by retention or at once.
	InstanceNamespaceDeletedReason = "InstanceNamespaceDeleted"
	// UnclaimedReason: no tenant came for the directory's instance within
	// the controllers' --directory-unclaimed-ttl.
	UnclaimedReason = "Unclaimed"
	// DirectoryDataDeletedReason: the directory's shards and what was
	// delivered into the tenant namespace are deleted (Event reason).
	DirectoryDataDeletedReason = "DirectoryDataDeleted"
	// DirectoryDataKeptReason: the directory went with its CRD, so its
	// shards and what was delivered into the tenant namespace were kept, for
	// the directory of its name once restored (Warning Event reason).
	DirectoryDataKeptReason = "DirectoryDataKept"

	// DirectoryLabel holds the SaaSDirectory name on its data shards (Secrets
	// in the directory namespace) and on what is delivered into a tenant
	// namespace. Legacy ConfigMap shards carry it too until the directory
	// controller moves them.
	DirectoryLabel = "saas.kooper.io/directory"
	// DirectoryPartLabel says what a shard holds: users or departments.
	DirectoryPartLabel = "saas.kooper.io/directory-part"
	// DirectoryCountAnnotation on a shard holds how many entries it has.
	DirectoryCountAnnotation = "saas.kooper.io/count"
	// ShardsFormatAnnotation on a SaaSDirectory says how its shards are
	// stored. ShardsFormatSecrets: as Secrets only, no ConfigMap shard of an
	// earlier version is left, so neither the receiver nor the directory
	// controller lists ConfigMaps to look for one. The receiver sets it on
	// the directories it creates; the directory controller sets it once it
	// has moved (or found no) ConfigMap shards. A directory without it is
	// checked for ConfigMap shards at every sync of a part and every
	// reconcile, until the controller sets it.
	ShardsFormatAnnotation = "saas.kooper.io/shards-format"
	// ShardsFormatSecrets is ShardsFormatAnnotation's one value.
	ShardsFormatSecrets = "secrets"

	// SSOSecretName is the Secret, in the tenant namespace, with the OAuth
	// client and endpoints of the joint-operation SSO (spec §7).
	SSOSecretName = "kooper-sso"
	// DirectorySecretName is the Secret, in the tenant namespace, with the
	// enterprise (tenant.json) and the list of shards; the shards are the
	// Secrets DirectorySecretName-users-NNN and -departments-NNN. They are
	// Secrets, not ConfigMaps, because they hold users' personal data
	// (phone numbers, e-mails), which the built-in view role must not read.
	DirectorySecretName = "kooper-directory"

	// NoticeConfigMapName is the ConfigMap, in the tenant namespace, with the
	// tenant's expiry notice (status.expiryNotice) for the app to read:
	// phase, expireTime and thresholdSeconds. It exists only while a notice
	// is due; a product that mounts a directory also finds it under
	// <mountPath>/notice.
	NoticeConfigMapName = "kooper-notice"
)

// InstanceHasAnotherEnterpriseReason: the directory's instance has another
// enterprise's SaaSDirectory (another tenantId) that is delivered, or else
// was created first. Everything is delivered under fixed names (kooper-sso,
// kooper-directory), so the tenant namespace holds one enterprise: this
// directory is delivered nowhere, what it delivered before is withdrawn,
// and a Warning Event of this reason marks the change. It is delivered
// once the other directory is gone (tenantSync flag 0, or deleted by hand).
const InstanceHasAnotherEnterpriseReason = "InstanceHasAnotherEnterprise"

// ShardsNotMountedReason: a directory's Delivered is False although
// everything was delivered, because some users or departments are in
// shards beyond those the tenant's pods mount (64 users shards, 16
// departments shards): the SSO gateway refuses those users and the app
// cannot read them. The receiver keeps a directory within the mounted
// shards while it fits, so only a directory too large for them has
// entries there. A Warning Event of this reason marks the change.
const ShardsNotMountedReason = "ShardsNotMounted"

// DomainNameUnusableReason: a directory's Delivered is False because the
// domainName its tenantSync brought cannot be the base of the OAuth
// endpoints: not https (http only to a loopback address), or with a path,
// query, fragment or user. kooper-sso is delivered without the endpoints,
// so the SSO gateway signs nobody in, until a tenantSync brings a usable
// domain. A Warning Event of this reason marks the change.
const DomainNameUnusableReason = "DomainNameUnusable"

// RequiredSecretKeys are the keys the product's keys Secret must hold for
// KeysAvailable to be True: the basic key (verifies callbacks, encrypts
// credentials) and the AK/SK (Query Order); for a joint-operation product
// the kit keys the receiver answers kit calls with (kitKey verifies every
// call, rsaPrivateKey decrypts an applicationSync's clientSecret: without
// either, the call is answered 000005); and for a License product the key
// that signs its licences. The product controller and `kubectl kooper
// check` both judge a Secret by it.
func (p *SaaSProduct) RequiredSecretKeys() []string {
	keys := []string{BasicKeySecretKey, AccessKeyIDSecretKey, SecretAccessKeySecretKey}
	if p.JointOperation() {
		keys = append(keys, KitKeySecretKey, RSAPrivateKeySecretKey)
	}
	if p.Spec.Type == ProductTypeLicense {
		keys = append(keys, LicenseSigningKeySecretKey)
	}
	return keys
}

// JointOperation reports whether the product is a joint-operation (联营)
// one, whose buyers' directories the marketplace syncs with kit calls: one
// whose workload mounts the directory (spec.workload.directory). A chart
// product may receive kit calls too, but nothing in its spec says so.
func (p *SaaSProduct) JointOperation() bool {
	return p.Spec.Workload != nil && p.Spec.Workload.Directory != nil
}

// LeaderElectionLeaseName is the Lease, in kooper's namespace (or
// --leader-election-namespace), that the controllers' leader holds; `kubectl
// kooper check` checks it is held.
const LeaderElectionLeaseName = "kooper.saas.kooper.io"
