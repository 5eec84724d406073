package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/chartrender"
)

// productRevision is one version of a product's app: the parts of the
// product a rollout carries to its tenants (docs/rollout.md). It is kept as
// a ControllerRevision in kooper's namespace, so a tenant the rollout has
// not reached yet is reconciled (frozen, upgraded, restarted) from the
// version it runs, not from the product's newest.
//
// The plans' replicas, resources and quota, the URLs, the lifecycle and
// metering are not part of it: they apply to every tenant at once, as
// before rollouts.
type productRevision struct {
	// Workload is spec.workload.
	Workload *saasv1alpha1.WorkloadTemplate `json:"workload,omitempty"`
	// Chart is spec.chart.
	Chart *saasv1alpha1.ChartTemplate `json:"chart,omitempty"`
	// ResolvedChart is status.chart: the digest the tenants render.
	ResolvedChart *saasv1alpha1.ResolvedChart `json:"resolvedChart,omitempty"`
	// PlanValues are the plans' chart values, by skuCode, for a chart
	// product: every plan of the revision, null when it had none.
	PlanValues map[string]*apiextensionsv1.JSON `json:"planValues,omitempty"`
	// ChartArchive is the packaged chart of a chart kept in a Secret, which
	// may be replaced while tenants still run this revision; an OCI chart
	// is pulled again by its digest. Not part of the revision's name (the
	// digest is).
	ChartArchive []byte `json:"chartArchive,omitempty"`
}

// revisionOf is the product's revision as its spec and status.chart say
// now; ok is false for a chart product whose chart is not resolved yet.
func revisionOf(product *saasv1alpha1.SaaSProduct) (productRevision, bool) {
	spec := &product.Spec
	rev := productRevision{Workload: spec.Workload, Chart: spec.Chart}
	if spec.Chart != nil {
		if product.Status.Chart == nil || product.Status.Chart.Digest == "" {
			return rev, false
		}
		rev.ResolvedChart = product.Status.Chart
		rev.PlanValues = make(map[string]*apiextensionsv1.JSON, len(spec.Plans))
		for _, p := range spec.Plans {
			rev.PlanValues[p.SKUCode] = p.Values // nil too: the plan had no values then
		}
	}
	return rev, true
}

// revisionName names a product's revision: the product's name and a hash
// of what the revision holds, so the same spec always names the same
// revision (a change undone goes back to the revision it had).
func revisionName(product string, rev productRevision) string {
	rev.ChartArchive = nil
	data, _ := json.Marshal(rev) // plain data: marshalling cannot fail
	sum := sha256.Sum256(data)
	return fmt.Sprintf("%s-%s", product, hex.EncodeToString(sum[:5]))
}

// liveRevisionName is the name of the revision the product's spec asks
// for now, "" when a chart product's chart is not resolved yet.
func liveRevisionName(product *saasv1alpha1.SaaSProduct) string {
	rev, ok := revisionOf(product)
	if !ok {
		return ""
	}
	return revisionName(product.Name, rev)
}

// overlay returns a copy of product with rev's parts in place of its own:
// the product as it was when rev was its newest.
func (rev productRevision) overlay(product *saasv1alpha1.SaaSProduct) *saasv1alpha1.SaaSProduct {
	p := product.DeepCopy()
	p.Spec.Workload, p.Spec.Chart = rev.Workload.DeepCopy(), rev.Chart.DeepCopy()
	p.Status.Chart = rev.ResolvedChart.DeepCopy()
	for i := range p.Spec.Plans {
		plan := &p.Spec.Plans[i]
		// A plan added after rev keeps the values it has now.
		if values, ok := rev.PlanValues[plan.SKUCode]; ok {
			plan.Values = values.DeepCopy()
		}
	}
	return p
}

// controllerRevision is rev stored for product as a ControllerRevision
// named name in namespace, numbered number.
func controllerRevision(product *saasv1alpha1.SaaSProduct, namespace, name string, number int64, rev productRevision) (*appsv1.ControllerRevision, error) {
	data, err := json.Marshal(rev)
	if err != nil {
		return nil, fmt.Errorf("failed to encode revision %s: %w", name, err)
	}
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{
			saasv1alpha1.ProductLabel:   product.Name,
			saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue,
		}},
		Data:     runtime.RawExtension{Raw: data},
		Revision: number,
	}, nil
}

// decodeRevision reads the productRevision a ControllerRevision holds.
func decodeRevision(cr *appsv1.ControllerRevision) (productRevision, error) {
	var rev productRevision
	if err := json.Unmarshal(cr.Data.Raw, &rev); err != nil {
		return rev, fmt.Errorf("failed to decode product revision %s: %w", cr.Name, err)
	}
	return rev, nil
}

// readRevision reads the product revision name from kooper's namespace:
// from the cache, and, when the cache does not have it, from the API
// server (the rollout may have stored it a moment ago). found is false
// when neither has it.
func readRevision(ctx context.Context, c client.Reader, reader client.Reader, namespace, name string) (cr *appsv1.ControllerRevision, found bool, err error) {
	cr = &appsv1.ControllerRevision{}
	key := client.ObjectKey{Namespace: namespace, Name: name}
	err = c.Get(ctx, key, cr)
	if apierrors.IsNotFound(err) {
		err = reader.Get(ctx, key, cr)
	}
	switch {
	case apierrors.IsNotFound(err):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("failed to read product revision %s: %w", key, err)
	}
	return cr, true, nil
}

// rememberChart puts a revision's packaged chart where Charts.Archive
// finds it by digest.
func (c *Charts) rememberChart(rev productRevision) {
	if len(rev.ChartArchive) > 0 {
		archive := chartrender.ArchiveFromBytes(rev.ChartArchive)
		c.cache().Add(archive.Digest(), archive)
	}
}
