package lifecycle

import (
	"context"
	"fmt"
	"slices"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// Steps that change the configuration under the instances, as a merchant
// would while the marketplace keeps calling (docs/lifecycle.md rule S):
// retiring a plan (or offering it again), deleting the product, deleting its
// keys Secret. None of them may block a freeze or a release.

// retire removes sku from the product's plans, or, if it is retired, offers
// it again. The last plan is never retired: a product has one at least.
func (s *sequence) retire(i int, sku string) {
	if s.model.ProductGone {
		s.t.Logf("step %d: retire %s: the product is gone", i, sku)
		return
	}
	switch {
	case !slices.Contains(s.model.Plans, sku):
		s.model.Offer(sku)
		s.t.Logf("step %d: offer %s again", i, sku)
	case len(s.model.Plans) > 1:
		s.model.Retire(sku)
		s.t.Logf("step %d: retire plan %s", i, sku)
	default:
		s.t.Logf("step %d: retire %s: it is the last plan", i, sku)
		return
	}
	s.plansChanged = true
	if err := s.product.offer(s.t.Context(), s.model.Plans); err != nil {
		s.fail(err.Error(), "changing the product's plans failed")
	}
}

// deleteProduct deletes the product as kubectl delete would. Its live
// instances hold it; once none does, it goes.
func (s *sequence) deleteProduct(i int) {
	if s.productDeleted {
		s.t.Logf("step %d: delete product: deleted already", i)
		return
	}
	s.t.Logf("step %d: kubectl delete saasproduct %s", i, s.product.name)
	s.productDeleted = true
	err := direct.Delete(s.t.Context(), &saasv1alpha1.SaaSProduct{ObjectMeta: metav1.ObjectMeta{Name: s.product.name}})
	if err != nil {
		s.fail(err.Error(), "deleting the product failed")
	}
	s.waitForReceiversToSeeTheDeletion()
	s.model.ProductDeleting = true
	s.syncProduct()
}

// waitForReceiversToSeeTheDeletion waits until both receivers' caches show
// the product deleted: a purchase racing the deletion is not the model's to
// predict.
func (s *sequence) waitForReceiversToSeeTheDeletion() {
	for _, target := range []*running{managerA, managerB} {
		seen := s.poll.Eventually(func() bool {
			product := &saasv1alpha1.SaaSProduct{}
			err := target.cache.Get(s.t.Context(), client.ObjectKey{Name: s.product.name}, product)
			return apierrors.IsNotFound(err) || (err == nil && !product.DeletionTimestamp.IsZero())
		}).WithTimeout(configTimeout).Should(BeTrue())
		if !seen {
			s.fail("", "receiver %s never saw the product deleted", target.name)
		}
	}
}

// deleteKeys deletes the product's keys Secret, which the product holds
// while it names it: callbacks go on being verified with it.
func (s *sequence) deleteKeys(i int) {
	if s.keysDeleted || s.model.ProductGone {
		s.t.Logf("step %d: delete keys Secret: deleted already", i)
		return
	}
	s.t.Logf("step %d: kubectl delete secret %s", i, s.product.keysSecret())
	s.keysDeleted = true
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: s.product.keysSecret()}}
	if err := direct.Delete(s.t.Context(), secret); err != nil {
		s.fail(err.Error(), "deleting the keys Secret failed")
	}
}

// syncProduct follows a deleted product: while a live instance holds it,
// it must stay; once none does, it must go, and from then on the model
// knows it gone. The receivers are given until their caches see it gone:
// a callback racing the deletion of its product is not the model's to
// predict.
func (s *sequence) syncProduct() {
	if !s.productDeleted || s.model.ProductGone {
		return
	}
	ctx := s.t.Context()
	if s.model.Live() {
		err := direct.Get(ctx, client.ObjectKey{Name: s.product.name}, &saasv1alpha1.SaaSProduct{})
		if apierrors.IsNotFound(err) {
			s.fail("", "rule S: the product was deleted while a live instance still names it")
		}
		return
	}
	gone := s.poll.Eventually(func() bool {
		return apierrors.IsNotFound(direct.Get(ctx, client.ObjectKey{Name: s.product.name}, &saasv1alpha1.SaaSProduct{}))
	}).WithTimeout(configTimeout).Should(BeTrue())
	if !gone {
		s.fail("", "rule S: the product was deleted and no live instance holds it, but it never went")
	}
	s.model.ProductGone = true
	s.waitForReceivers(InvalidParam)
}

// waitForReceivers waits until both receivers answer a queryInstance of
// an ID nobody issued with code: 000003 once they verify the product's
// callbacks, 000002 once they know it gone.
func (s *sequence) waitForReceivers(code string) {
	probe := Callback{Activity: QueryInstance, InstanceID: "i-" + randomHex(10)}
	for _, target := range []*running{managerA, managerB} {
		caught := s.poll.Eventually(func() (string, error) {
			a, err := sendRetrying(s.t.Context(), target.url, s.product, probe)
			return a.Code, err
		}).WithTimeout(configTimeout).Should(Equal(code))
		if !caught {
			s.fail("", "receiver %s never answered %s for the product's new configuration", target.name, code)
		}
	}
}

// configTimeout bounds the wait for a configuration change to take
// effect: a product to go once nothing holds it, or to be created again.
const configTimeout = 30 * time.Second

// teardownTimeout bounds the wait for a frozen, released or gone instance
// to stop being served (invariant 5).
const teardownTimeout = 15 * time.Second

// freshProduct gives a sequence its product as createProducts made it:
// with every plan and its keys Secret, and no record of another sequence,
// even one that failed before its cleanup. A deleted product or Secret is
// created again once it is gone.
func (s *sequence) freshProduct() {
	ctx := s.t.Context()
	records, err := s.product.list(ctx)
	if err != nil {
		s.fail(err.Error(), "listing the product's records failed")
	}
	for _, r := range records {
		if err := direct.Delete(ctx, s.product.object(r.name)); err != nil && !apierrors.IsNotFound(err) {
			s.fail(err.Error(), "deleting a record left by an earlier sequence failed")
		}
	}
	product := &saasv1alpha1.SaaSProduct{}
	secret := &corev1.Secret{}
	productErr := direct.Get(ctx, client.ObjectKey{Name: s.product.name}, product)
	secretErr := direct.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: s.product.keysSecret()}, secret)
	switch {
	case productErr != nil || secretErr != nil || product.DeletionTimestamp != nil || secret.DeletionTimestamp != nil:
		s.recreateProduct(ctx)
	case len(product.Spec.Plans) != len(plans):
		if err := s.product.offer(ctx, plans); err != nil {
			s.fail(err.Error(), "restoring the product's plans failed")
		}
	}
	s.waitForProtection(ctx)
}

func (s *sequence) recreateProduct(ctx context.Context) {
	product := &saasv1alpha1.SaaSProduct{ObjectMeta: metav1.ObjectMeta{Name: s.product.name}}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: s.product.keysSecret()}}
	for _, obj := range []client.Object{product, secret} {
		if err := direct.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
			s.fail(err.Error(), "deleting the product to create it again failed")
		}
	}
	gone := s.poll.Eventually(func() bool {
		return apierrors.IsNotFound(direct.Get(ctx, client.ObjectKeyFromObject(product), product)) &&
			apierrors.IsNotFound(direct.Get(ctx, client.ObjectKeyFromObject(secret), secret))
	}).WithTimeout(configTimeout).Should(BeTrue())
	if !gone {
		s.fail("", "the product and its keys Secret were deleted with no record left, but did not go")
	}
	if err := s.product.create(ctx); err != nil {
		s.fail(err.Error(), "creating the product again failed")
	}
	s.waitForReceivers(NotFound)
}

// waitForProtection waits until the product and its keys Secret carry the
// in-use finalizer, which the controllers add on their first reconcile:
// protection starts then, not at creation (docs/lifecycle.md rule S), and
// a deletion within that moment is not the model's to predict.
func (s *sequence) waitForProtection(ctx context.Context) {
	product := &saasv1alpha1.SaaSProduct{ObjectMeta: metav1.ObjectMeta{Name: s.product.name}}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: s.product.keysSecret()}}
	protected := s.poll.Eventually(func() (bool, error) {
		for _, obj := range []client.Object{product, secret} {
			if err := direct.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
				return false, err
			}
			if !slices.Contains(obj.GetFinalizers(), saasv1alpha1.InUseFinalizer) {
				return false, nil
			}
		}
		return true, nil
	}).WithTimeout(configTimeout).Should(BeTrue())
	if !protected {
		s.fail("", "the product or its keys Secret never carried the in-use finalizer")
	}
}

// checkTeardown is invariant 5: a frozen, released or gone instance stops
// being served within the wait, whatever the configuration. A tenant runs
// no replica (its Deployment scaled to zero or removed); a licence is
// revoked (Frozen or Released, for the revocation list).
func (s *sequence) checkTeardown(line int, inst *Instance) {
	if inst.State == Active {
		return
	}
	ctx := s.t.Context()
	if s.product.license {
		s.checkRevoked(ctx, line, inst)
		return
	}
	var serving []string
	stopped := s.poll.Eventually(func() ([]string, error) {
		var err error
		serving, err = runningDeployments(ctx, inst.ID)
		return serving, err
	}).WithTimeout(teardownTimeout).Should(BeEmpty())
	if !stopped {
		s.fail(fmt.Sprintf("%s runs %v; its record: %s", inst.ID, serving, tenantSummary(ctx, inst.ID)),
			"invariant 5: line %d is %s, but its Deployment still runs replicas", line, inst.State)
	}
}

// runningDeployments lists the Deployments of instance id that still ask
// for a replica, outside namespaces being deleted.
func runningDeployments(ctx context.Context, id string) ([]string, error) {
	list := &appsv1.DeploymentList{}
	if err := direct.List(ctx, list, client.MatchingLabels{saasv1alpha1.InstanceIDLabel: id}); err != nil {
		return nil, err
	}
	var serving []string
	for _, d := range list.Items {
		if d.DeletionTimestamp != nil || ptr.Deref(d.Spec.Replicas, 1) == 0 {
			continue
		}
		ns := &corev1.Namespace{}
		if err := direct.Get(ctx, client.ObjectKey{Name: d.Namespace}, ns); err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
		if ns.DeletionTimestamp == nil {
			serving = append(serving, d.Namespace+"/"+d.Name)
		}
	}
	return serving, nil
}

// checkRevoked: a frozen licence shows Frozen, a released one Released,
// both with the key revoked. A gone licence has no record to show it.
func (s *sequence) checkRevoked(ctx context.Context, line int, inst *Instance) {
	condType := saasv1alpha1.FrozenCondition
	switch inst.State {
	case Gone:
		return
	case Released:
		condType = saasv1alpha1.ReleasedCondition
	}
	revoked := s.poll.Eventually(func() (bool, error) {
		l := &saasv1alpha1.License{}
		if err := direct.Get(ctx, client.ObjectKey{Name: inst.ID}, l); err != nil {
			return false, err
		}
		c := apimeta.FindStatusCondition(l.Status.Conditions, condType)
		return c != nil && c.Status == metav1.ConditionTrue && c.Reason == saasv1alpha1.RevokedReason, nil
	}).WithTimeout(teardownTimeout).Should(BeTrue())
	if !revoked {
		s.fail(inst.ID, "invariant 5: line %d is %s, but its licence is not revoked", line, inst.State)
	}
}

// tenantSummary is a tenant's state, namespace and conditions, for a
// failure's detail.
func tenantSummary(ctx context.Context, id string) string {
	t := &saasv1alpha1.SaaSTenant{}
	if err := direct.Get(ctx, client.ObjectKey{Name: id}, t); err != nil {
		return err.Error()
	}
	conditions := make([]string, len(t.Status.Conditions))
	for i, c := range t.Status.Conditions {
		conditions[i] = fmt.Sprintf("%s=%s (%s: %s)", c.Type, c.Status, c.Reason, c.Message)
	}
	return fmt.Sprintf("state %s, namespace %q, deleting %t, conditions %v", t.Spec.State, t.Status.Namespace, t.DeletionTimestamp != nil, conditions)
}
