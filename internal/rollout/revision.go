package rollout

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// Revision is one version of a product's app: the parts of a SaaSProduct a
// rollout carries to its tenants (docs/rollout.md). kooper keeps it, JSON
// encoded (Encode), as a ControllerRevision in its namespace, so a tenant
// the rollout has not reached is reconciled (frozen, upgraded, restarted)
// from the version it runs, not from the product's newest.
//
// The plans' replicas, resources and quota, the URLs, the lifecycle and
// metering are not part of it: they apply to every tenant at once.
type Revision struct {
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

// Defaults are what a revision takes from the controllers where the
// product names nothing, so that a change of them reaches tenants in the
// rollout's waves like any other change of the app. A change of them
// alone is no new version of the merchant's, though: it does not move a
// paused rollout on (SameVersion).
type Defaults struct {
	// GatewayImage is the SSO gateway's image for a product whose
	// spec.workload.sso.gateway names none (the controllers'
	// --gateway-image: kooper's own, which a kooper upgrade changes).
	GatewayImage string
}

// RevisionOf is the product's revision as its spec and status.chart say
// now, with the controllers' defaults d pinned in; ok is false for a chart
// product whose chart is not resolved yet. The revision shares the
// product's values: copy before changing either.
func RevisionOf(product *saasv1alpha1.SaaSProduct, d Defaults) (rev Revision, ok bool) {
	spec := &product.Spec
	rev = Revision{Workload: withDefaults(spec.Workload, d), Chart: spec.Chart}
	if spec.Chart == nil {
		return rev, true
	}
	if product.Status.Chart == nil || product.Status.Chart.Digest == "" {
		return rev, false
	}
	rev.ResolvedChart = product.Status.Chart
	rev.PlanValues = make(map[string]*apiextensionsv1.JSON, len(spec.Plans))
	for _, p := range spec.Plans {
		rev.PlanValues[p.SKUCode] = p.Values // nil too: the plan had no values then
	}
	return rev, true
}

// Name names a revision of product: the product's name and a hash of what
// the revision holds (its chart archive aside, of its resolved chart only
// the digest, and of PlanValues only the plans that have values), so the
// same spec always names the same revision and a change undone goes back
// to the revision it had. A plan without values (none, null or {}) adds
// nothing to the app: adding or removing one is no new version. At most 74
// characters for a product name of 63.
func (rev Revision) Name(product string) string {
	rev.PlanValues = plansWithValues(rev.PlanValues)
	return rev.hashedName(product)
}

// hashedName is product's name and a hash of rev, its chart archive aside
// and of its resolved chart only the digest.
func (rev Revision) hashedName(product string) string {
	rev.ChartArchive = nil
	if rev.ResolvedChart != nil {
		rev.ResolvedChart = &saasv1alpha1.ResolvedChart{Digest: rev.ResolvedChart.Digest}
	}
	data, _ := json.Marshal(rev) // plain data: marshalling cannot fail
	sum := sha256.Sum256(data)
	return fmt.Sprintf("%s-%s", product, hex.EncodeToString(sum[:5]))
}

// NameIn names rev, a revision of product: Name, unless product's rollout
// already knows rev under the name kooper gave it before plans without
// values were left out of the hash (every plan's values hashed as they
// are): then that name. The content is the same, so keeping its name
// starts no rollout at an upgrade of kooper, and above all does not move
// a rollout paused on a bad version on to its next wave.
func (rev Revision) NameIn(product *saasv1alpha1.SaaSProduct) string {
	name := rev.Name(product.Name)
	progress := product.Status.Rollout
	if progress == nil {
		return name
	}
	if earlier := rev.hashedName(product.Name); earlier != name &&
		(earlier == progress.UpdateRevision || earlier == progress.CurrentRevision) {
		return earlier
	}
	return name
}

// plansWithValues is values without the plans that have none (noValues);
// nil when none has any. values itself is not changed.
func plansWithValues(values map[string]*apiextensionsv1.JSON) map[string]*apiextensionsv1.JSON {
	var out map[string]*apiextensionsv1.JSON
	for sku, v := range values {
		if noValues(v) {
			continue
		}
		if out == nil {
			out = make(map[string]*apiextensionsv1.JSON, len(values))
		}
		out[sku] = v
	}
	return out
}

// noValues reports whether a plan's values give the chart nothing: none,
// null, or an empty object (whitespace aside), which the tenant's render
// reads as no values.
func noValues(v *apiextensionsv1.JSON) bool {
	if v == nil || len(bytes.TrimSpace(v.Raw)) == 0 {
		return true
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, v.Raw); err != nil {
		return false // not JSON: hashed as it is
	}
	return compact.String() == "null" || compact.String() == "{}"
}

// withDefaults is w with d's values where w names none: a copy when it
// changes anything, w itself otherwise.
func withDefaults(w *saasv1alpha1.WorkloadTemplate, d Defaults) *saasv1alpha1.WorkloadTemplate {
	if gw := w.Gateway(); gw == nil || gw.Image != "" || d.GatewayImage == "" {
		return w
	}
	pinned := w.DeepCopy()
	pinned.SSO.Gateway.Image = d.GatewayImage
	return pinned
}

// SameVersion reports whether rev, product's revision as its spec,
// status.chart and the controllers' defaults make it now, is the version
// paused, a revision of product stored earlier, under another name: the
// merchant made no new version, kooper or the API server renamed it. So a
// paused rollout is not moved on by what the merchant did not do. It is
// the same version when
//   - rev and paused differ only in what the controllers' defaults put in
//     (Defaults: a kooper upgrade's new --gateway-image), or
//   - specUnchanged (the caller knows product's spec is the one paused was
//     made from: its generation) and both render the same chart digest,
//     if any. With the spec unchanged the name can change only by kooper
//     (its defaults, its naming) or by the API server filling in a
//     +kubebuilder:default added to the CRD on read, which changes the
//     spec kooper hashes but not its generation. A new digest with the
//     spec unchanged is a moved OCI tag or a replaced chart Secret: the
//     merchant's new version.
func (rev Revision) SameVersion(product *saasv1alpha1.SaaSProduct, paused Revision, specUnchanged bool) bool {
	if specUnchanged && digestOf(rev.ResolvedChart) == digestOf(paused.ResolvedChart) {
		return true
	}
	if gw := paused.Workload.Gateway(); gw != nil && gw.Image != "" {
		// The gateway image paused was made with, where the spec names
		// none: what the controllers' defaults gave it then.
		rev.Workload = withDefaults(product.Spec.Workload, Defaults{GatewayImage: gw.Image})
	}
	return rev.Name(product.Name) == paused.Name(product.Name)
}

// digestOf is the digest of a resolved chart, "" for none.
func digestOf(c *saasv1alpha1.ResolvedChart) string {
	if c == nil {
		return ""
	}
	return c.Digest
}

// LiveName is the name of the revision product's spec asks for now, with
// the controllers' defaults d, "" when a chart product's chart is not
// resolved yet.
func LiveName(product *saasv1alpha1.SaaSProduct, d Defaults) string {
	rev, ok := RevisionOf(product, d)
	if !ok {
		return ""
	}
	return rev.NameIn(product)
}

// Overlay returns a copy of product with rev's parts in place of its own:
// the product as it was when rev was its newest. A plan added after rev
// keeps the values it has now.
func (rev Revision) Overlay(product *saasv1alpha1.SaaSProduct) *saasv1alpha1.SaaSProduct {
	p := product.DeepCopy()
	p.Spec.Workload, p.Spec.Chart = rev.Workload.DeepCopy(), rev.Chart.DeepCopy()
	p.Status.Chart = rev.ResolvedChart.DeepCopy()
	for i := range p.Spec.Plans {
		plan := &p.Spec.Plans[i]
		if values, ok := rev.PlanValues[plan.SKUCode]; ok {
			plan.Values = values.DeepCopy()
		}
	}
	return p
}

// Encode is rev as stored in a ControllerRevision's data.
func (rev Revision) Encode() ([]byte, error) {
	data, err := json.Marshal(rev)
	if err != nil {
		return nil, fmt.Errorf("failed to encode the product revision: %w", err)
	}
	return data, nil
}

// DecodeRevision reads a Revision from a ControllerRevision's data. It
// fails on anything that is not a JSON object of Revision's shape.
func DecodeRevision(data []byte) (Revision, error) {
	var rev Revision
	if err := json.Unmarshal(data, &rev); err != nil {
		return Revision{}, fmt.Errorf("failed to decode the product revision: %w", err)
	}
	return rev, nil
}
