package intern

import (
	"encoding/json"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

var (
	appliedPlans = newTable[*saasv1alpha1.AppliedPlan]()
	lifecycles   = newTable[*saasv1alpha1.LifecyclePolicy]()
)

// shareTenant makes a SaaSTenant share what repeats across a product's
// records: the plan applied and the lifecycle policy (one copy of equal
// content each), and the strings a plan, a product or a condition's kind
// repeat (interned). Strings of one tenant (its names, order, messages and
// URLs) are left as they are: interning them would cost more than it saves.
func shareTenant(t *saasv1alpha1.SaaSTenant) {
	t.Spec.ProductName = intern(t.Spec.ProductName)
	t.Spec.State = saasv1alpha1.SubscriptionState(intern(string(t.Spec.State)))
	t.Spec.Mode = saasv1alpha1.RequestMode(intern(string(t.Spec.Mode)))
	for i := range t.Spec.Orders {
		t.Spec.Orders[i].Activity = saasv1alpha1.OrderActivity(intern(string(t.Spec.Orders[i].Activity)))
	}
	s := &t.Status
	for i := range s.Conditions {
		c := &s.Conditions[i]
		c.Type, c.Reason = intern(c.Type), intern(c.Reason)
		c.Status = metav1.ConditionStatus(intern(string(c.Status)))
	}
	s.SKUCode, s.Revision, s.CredentialsSecretName = intern(s.SKUCode), intern(s.Revision), intern(s.CredentialsSecretName)
	if o := s.Order; o != nil {
		o.SKUCode, o.ProductID, o.OrderType, o.PeriodType = intern(o.SKUCode), intern(o.ProductID), intern(o.OrderType), intern(o.PeriodType)
		o.ChargingMode = saasv1alpha1.ChargingMode(intern(string(o.ChargingMode)))
	}
	for i := range s.History {
		h := &s.History[i]
		h.Activity, h.State, h.Result = intern(h.Activity), saasv1alpha1.SubscriptionState(intern(string(h.State))), saasv1alpha1.HistoryResult(intern(string(h.Result)))
	}
	s.Applied = sharedJSON(appliedPlans, s.Applied)
	s.Lifecycle = sharedJSON(lifecycles, s.Lifecycle)
}

// sharedJSON is v as the one copy in tb of an equal value, keyed by its
// JSON encoding; nil stays nil.
func sharedJSON[V any](tb *table[*V], v *V) *V {
	if v == nil {
		return nil
	}
	key, err := json.Marshal(v)
	if err != nil {
		return v
	}
	return tb.share(string(key), v, func() *V { return v })
}
