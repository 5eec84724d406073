package controllers

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/metering"
)

// Packages that fund a pay-per-use tenant (docs/packages.md): a package's
// SaaSTenant is a record with no namespace; it links itself to the buyer's
// pay-per-use tenant, and a tenant whose packages are used up is frozen
// when its product says so.

// buyerIndex indexes tenants by their buyer: a pay-per-use tenant under
// "c/<customerId>" and "cp/<customerId>/<product>", so a package finds the
// tenant it funds; a package that funds none yet under the same keys with
// "waiting/" before them, so a new pay-per-use tenant finds the packages
// waiting for it.
const buyerIndex = "status.order.customerId"

// waitingPrefix marks the buyerIndex keys of packages that fund no tenant yet.
const waitingPrefix = "waiting/"

// packageLinkRetry is how often a package whose buyer has no pay-per-use
// tenant yet looks again, besides being woken by a new one.
const packageLinkRetry = 5 * time.Minute

func indexTenantsByBuyer(mgr ctrl.Manager) error {
	return indexOnce(mgr, &saasv1alpha1.SaaSTenant{}, buyerIndex, func(obj client.Object) []string {
		t, ok := obj.(*saasv1alpha1.SaaSTenant)
		if !ok || t.Status.Order == nil || t.Status.Order.CustomerID == "" {
			return nil
		}
		switch {
		case t.Status.Order.ChargingMode == saasv1alpha1.ChargingOnDemand:
			return buyerKeys(t, "")
		case t.Status.Package != nil && t.Status.Package.FundsInstanceID == "":
			return buyerKeys(t, waitingPrefix)
		}
		return nil
	})
}

// buyerKeys are the buyerIndex values of t, whose order names its buyer,
// each after prefix: by buyer, and by buyer and product.
func buyerKeys(t *saasv1alpha1.SaaSTenant, prefix string) []string {
	return []string{prefix + buyerKey(saasv1alpha1.LinkByCustomer, t.Status.Order.CustomerID, ""),
		prefix + buyerKey(saasv1alpha1.LinkByCustomerAndProduct, t.Status.Order.CustomerID, t.Spec.ProductName)}
}

// packagesWaitingFor maps a pay-per-use tenant to the packages of its
// buyer that fund no tenant yet, so they link the moment it is resolved.
func (r *SaaSTenantReconciler) packagesWaitingFor(ctx context.Context, obj client.Object) []reconcile.Request {
	t, ok := obj.(*saasv1alpha1.SaaSTenant)
	if !ok || buyerOf(t) == "" {
		return nil
	}
	var out []reconcile.Request
	for _, key := range buyerKeys(t, waitingPrefix) {
		list := &saasv1alpha1.SaaSTenantList{}
		if err := r.List(ctx, list, client.MatchingFields{buyerIndex: key}); err != nil {
			continue
		}
		for i := range list.Items {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return out
}

// buyerResolved passes a pay-per-use tenant whose buyer just became known:
// its order resolved (or, at start, every such tenant).
var buyerResolved = predicate.Funcs{
	CreateFunc: func(e event.CreateEvent) bool { return buyerOf(e.Object) != "" },
	UpdateFunc: func(e event.UpdateEvent) bool {
		return buyerOf(e.ObjectNew) != "" && buyerOf(e.ObjectOld) != buyerOf(e.ObjectNew)
	},
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
}

// buyerOf is the customerId of a pay-per-use tenant, "" for any other.
func buyerOf(obj client.Object) string {
	t, ok := obj.(*saasv1alpha1.SaaSTenant)
	if !ok || t.Status.Order == nil || t.Status.Order.ChargingMode != saasv1alpha1.ChargingOnDemand {
		return ""
	}
	return t.Status.Order.CustomerID
}

// buyerKey is the buyerIndex value a package of product looks up.
func buyerKey(by saasv1alpha1.PackageLinkBy, customerID, product string) string {
	if by == saasv1alpha1.LinkByCustomer {
		return "c/" + customerID
	}
	return "cp/" + customerID + "/" + product
}

// recordPackage ends the reconcile of a package (metering.IsPackage): it
// records the package's quota and the tenant it funds, and provisions
// nothing. Any other tenant proceeds.
func (r *SaaSTenantReconciler) recordPackage(ctx context.Context, s *tenantState) outcome {
	t := s.tenant
	if !metering.IsPackage(t, s.product) {
		return proceed()
	}
	quota, err := metering.PackageQuota(s.plan.Package, t.Status.Order.LinearValue)
	switch {
	case err == nil:
		if t.Status.Package == nil {
			t.Status.Package = &saasv1alpha1.TenantPackage{}
		}
		t.Status.Package.Quota = quota.String()
	case t.Status.Package == nil:
		return r.stall(t, saasv1alpha1.NoPackageTermsReason, "Plan %q of SaaSProduct %q cannot be a package: %v", s.plan.SKUCode, s.product.Name, err)
	default:
		// The plan lost its terms (the product dropped spec.packages):
		// the package keeps what it was bought with.
		quota, _ = koogallery.ParseUsageUnits(t.Status.Package.Quota)
	}
	if err := r.leaveEndedTenant(ctx, t); err != nil {
		return failed(err)
	}
	if t.Status.Package.FundsInstanceID == "" {
		funded, err := r.payPerUseTenantOf(ctx, t, s.product)
		if err != nil {
			return failed(err)
		}
		if funded != "" {
			r.event(t, corev1.EventTypeNormal, saasv1alpha1.PackageLinkedReason, fmt.Sprintf("The package funds instance %s", funded))
		}
		t.Status.Package.FundsInstanceID = funded
	}
	setCondition(t, saasv1alpha1.ProvisionedCondition, metav1.ConditionTrue, saasv1alpha1.PackageLinkedReason,
		"A package has nothing of its own to provision: it funds the buyer's pay-per-use tenant")
	o := done()
	if funded := t.Status.Package.FundsInstanceID; funded != "" {
		setCondition(t, saasv1alpha1.AvailableCondition, metav1.ConditionTrue, saasv1alpha1.PackageLinkedReason,
			fmt.Sprintf("Package of %s funds instance %s", quota, funded))
	} else {
		setCondition(t, saasv1alpha1.AvailableCondition, metav1.ConditionFalse, saasv1alpha1.WaitingForPayPerUseTenantReason,
			waitingPackageMessage(t, s.product))
		o = waitFor(packageLinkRetry)
	}
	setSummary(t, s)
	return o
}

// waitingPackageMessage says among which tenants package t, which funds
// none, looks for one to fund (payPerUseTenantOf): its buyer's
// pay-per-use tenants not released, of product or, with linkBy Customer,
// of any product; none ever, when Query Order named no buyer.
func waitingPackageMessage(t *saasv1alpha1.SaaSTenant, product *saasv1alpha1.SaaSProduct) string {
	if t.Status.Order.CustomerID == "" {
		return "Query Order named no buyer (customerId) for the package's order: it can be linked to no pay-per-use tenant, and funds none"
	}
	of := fmt.Sprintf("of SaaSProduct %q", product.Name)
	if product.Spec.Packages != nil && product.Spec.Packages.LinkBy == saasv1alpha1.LinkByCustomer {
		of = "of any SaaSProduct (linkBy Customer)"
	}
	return fmt.Sprintf("The buyer has no pay-per-use tenant (chargingMode %s) %s that is not released; the package will fund the next one",
		saasv1alpha1.ChargingOnDemand, of)
}

// leaveEndedTenant unlinks package t from the tenant it funds once that
// tenant is released and its last usage pushed (its ledger takes no more),
// carrying what the package paid for into consumedBefore, so that it funds
// the buyer's next pay-per-use tenant with what it has left. A funded
// tenant deleted outright takes its ledger with it: the package keeps what
// it had recorded before. Both states are final, so a cache that lags can
// only delay the move.
func (r *SaaSTenantReconciler) leaveEndedTenant(ctx context.Context, t *saasv1alpha1.SaaSTenant) error {
	p := t.Status.Package
	if p.FundsInstanceID == "" {
		return nil
	}
	funded := &saasv1alpha1.SaaSTenant{}
	err := r.Get(ctx, client.ObjectKey{Name: p.FundsInstanceID}, funded)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("failed to read the tenant the package funds: %w", err)
	case !fundingEnded(funded):
		return nil
	case funded.Status.Metering != nil:
		if b := metering.Balance(funded.Status.Metering.Packages, t.Spec.InstanceID); b != nil {
			p.ConsumedBefore = b.Consumed
			p.ConsumedUntil = funded.Status.Metering.PushedUntil.DeepCopy()
		}
	}
	r.event(t, corev1.EventTypeNormal, saasv1alpha1.PackageLinkedReason,
		fmt.Sprintf("Instance %s is released: the package funds the buyer's next pay-per-use tenant with what it has left", p.FundsInstanceID))
	p.FundsInstanceID = ""
	return nil
}

// fundingEnded reports whether a funded tenant's ledger is final: it is
// released (or being deleted) and its last usage is pushed, or it was
// never metered.
func fundingEnded(t *saasv1alpha1.SaaSTenant) bool {
	if t.Spec.State != saasv1alpha1.StateReleased && t.DeletionTimestamp.IsZero() {
		return false
	}
	return t.Status.Metering == nil || metering.Done(t.Status.Metering)
}

// packagesOfEnded maps a funded tenant whose ledger just became final (or
// that is gone) to the packages it held, so they move on at once.
func (r *SaaSTenantReconciler) packagesOfEnded(ctx context.Context, obj client.Object) []reconcile.Request {
	t, ok := obj.(*saasv1alpha1.SaaSTenant)
	if !ok {
		return nil
	}
	packages, err := packagesFunding(ctx, r.Client, t.Spec.InstanceID)
	if err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(packages))
	for i := range packages {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&packages[i])})
	}
	return out
}

// fundingJustEnded passes a tenant whose ledger became final, or that is
// gone.
var fundingJustEnded = predicate.Funcs{
	CreateFunc: func(event.CreateEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		before, ok1 := e.ObjectOld.(*saasv1alpha1.SaaSTenant)
		after, ok2 := e.ObjectNew.(*saasv1alpha1.SaaSTenant)
		return ok1 && ok2 && !fundingEnded(before) && fundingEnded(after)
	},
	DeleteFunc:  func(event.DeleteEvent) bool { return true },
	GenericFunc: func(event.GenericEvent) bool { return false },
}

// payPerUseTenantOf finds the tenant package t funds: the buyer's oldest
// pay-per-use tenant that is not released (docs/packages.md decision 3),
// or "" when there is none.
func (r *SaaSTenantReconciler) payPerUseTenantOf(ctx context.Context, t *saasv1alpha1.SaaSTenant, product *saasv1alpha1.SaaSProduct) (string, error) {
	if t.Status.Order.CustomerID == "" {
		return "", nil
	}
	linkBy := saasv1alpha1.LinkByCustomerAndProduct
	if product.Spec.Packages != nil {
		linkBy = product.Spec.Packages.LinkBy
	}
	key := buyerKey(linkBy, t.Status.Order.CustomerID, product.Name)
	list := &saasv1alpha1.SaaSTenantList{}
	if err := r.List(ctx, list, client.MatchingFields{buyerIndex: key}); err != nil {
		return "", fmt.Errorf("failed to list the buyer's tenants: %w", err)
	}
	candidates := slices.DeleteFunc(list.Items, func(c saasv1alpha1.SaaSTenant) bool {
		return c.Spec.State == saasv1alpha1.StateReleased || !c.DeletionTimestamp.IsZero()
	})
	if len(candidates) == 0 {
		return "", nil
	}
	oldest := slices.MinFunc(candidates, func(a, b saasv1alpha1.SaaSTenant) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return oldest.Spec.InstanceID, nil
}

// decideExhaustionFreeze freezes an active tenant whose packages are used
// up, when its product says spec.packages.onExhausted Freeze. A new package
// lifts it; a marketplace freeze is its own and stays.
func (r *SaaSTenantReconciler) decideExhaustionFreeze(_ context.Context, s *tenantState) outcome {
	if !s.frozen && freezesOnExhaustion(s.tenant, s.product.Spec.Packages) {
		s.frozen, s.frozenByExhaustion = true, true
	}
	return proceed()
}

// freezesOnExhaustion reports whether packages policy p freezes tenant t:
// it is active, its packages are used up, and p says Freeze.
func freezesOnExhaustion(t *saasv1alpha1.SaaSTenant, p *saasv1alpha1.PackagesSpec) bool {
	return p != nil && p.OnExhausted == saasv1alpha1.ExhaustedFreeze && t.Spec.State == saasv1alpha1.StateActive && packagesExhausted(t)
}

// exhaustionFreezesFromRecord decides the freeze by exhaustion for a pass
// that stopped (freezeFromRecord), which may not have reached
// decideExhaustionFreeze: stopping service waits for no plan, order or
// chart (DESIGN.md rule 10). The policy is the product's while it exists;
// once the product is gone, or sells licences, the one the tenant's
// status recorded by acting on it: a freeze by exhaustion in force stays
// while the packages are used up (the tenant records no policy it never
// acted on, so none freezes it anew).
func (r *SaaSTenantReconciler) exhaustionFreezesFromRecord(ctx context.Context, s *tenantState) (bool, error) {
	t := s.tenant
	if t.Spec.State != saasv1alpha1.StateActive || !packagesExhausted(t) {
		return false, nil
	}
	product := s.product
	if product == nil {
		read := &saasv1alpha1.SaaSProduct{}
		err := r.Get(ctx, client.ObjectKey{Name: t.Spec.ProductName}, read)
		switch {
		case err == nil && read.Spec.Type == saasv1alpha1.ProductTypeSaaS:
			product = read
		case err != nil && !apierrors.IsNotFound(err):
			return false, fmt.Errorf("failed to read SaaSProduct %s: %w", t.Spec.ProductName, err)
		}
	}
	if product != nil {
		return freezesOnExhaustion(t, product.Spec.Packages), nil
	}
	frozen := apimeta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.FrozenCondition)
	return frozen != nil && frozen.Status == metav1.ConditionTrue && frozen.Reason == saasv1alpha1.FrozenByExhaustionReason, nil
}

// packagesExhausted reports PackagesExhausted=True in status.metering.
func packagesExhausted(t *saasv1alpha1.SaaSTenant) bool {
	return t.Status.Metering != nil && apimeta.IsStatusConditionTrue(t.Status.Metering.Conditions, saasv1alpha1.PackagesExhaustedCondition)
}

// exhaustionChanged passes an update that turns PackagesExhausted on or
// off: the metering controller writes it, and the tenant controller
// applies the freeze it may mean.
var exhaustionChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		before, ok1 := e.ObjectOld.(*saasv1alpha1.SaaSTenant)
		after, ok2 := e.ObjectNew.(*saasv1alpha1.SaaSTenant)
		return ok1 && ok2 && packagesExhausted(before) != packagesExhausted(after)
	},
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
}
