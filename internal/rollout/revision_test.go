package rollout

import (
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

func workloadProduct(image string) *saasv1alpha1.SaaSProduct {
	return &saasv1alpha1.SaaSProduct{
		Spec: saasv1alpha1.SaaSProductSpec{
			Workload: &saasv1alpha1.WorkloadTemplate{Image: image},
			Plans:    []saasv1alpha1.Plan{{SKUCode: "basic", Replicas: 1}},
		},
	}
}

func chartProduct(digest, planValues string) *saasv1alpha1.SaaSProduct {
	p := &saasv1alpha1.SaaSProduct{Spec: saasv1alpha1.SaaSProductSpec{
		Chart: &saasv1alpha1.ChartTemplate{SecretRef: &saasv1alpha1.ChartSecretRef{Name: "crm-chart"}},
		Plans: []saasv1alpha1.Plan{{SKUCode: "basic"}, {SKUCode: "pro", Values: &apiextensionsv1.JSON{Raw: []byte(planValues)}}},
	}}
	if digest != "" {
		p.Status.Chart = &saasv1alpha1.ResolvedChart{Digest: digest, Name: "crm", Version: "1.0.0"}
	}
	p.Name = "crm"
	return p
}

func TestARevisionIsNamedByWhatMakesTheApp(t *testing.T) {
	a := workloadProduct("crm:1")
	a.Name = "crm"
	same := a.DeepCopy()
	same.Spec.Plans[0].Replicas = 3 // a plan's replicas are not the app's version
	same.Spec.URLs = &saasv1alpha1.URLTemplates{FrontEndURL: "https://{{.InstanceID}}.example.com"}
	image := a.DeepCopy()
	image.Spec.Workload.Image = "crm:2"
	renamed := chartProduct("sha256:1", `{"web":2}`)
	renamed.Status.Chart.Version = "1.0.1" // the same digest: the same chart
	cases := []struct {
		name      string
		p, q      *saasv1alpha1.SaaSProduct
		sameNamed bool
	}{
		{"a plan's replicas and the URLs", a, same, true},
		{"the image", a, image, false},
		{"a chart's name and version beside its digest", chartProduct("sha256:1", `{"web":2}`), renamed, true},
		{"a chart's digest", chartProduct("sha256:1", `{"web":2}`), chartProduct("sha256:2", `{"web":2}`), false},
		{"a plan's values", chartProduct("sha256:1", `{"web":2}`), chartProduct("sha256:1", `{"web":3}`), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, q := LiveName(c.p, Defaults{}), LiveName(c.q, Defaults{})
			if (p == q) != c.sameNamed || !strings.HasPrefix(p, "crm-") {
				t.Fatalf("%s and %s: same name %v, want %v", p, q, p == q, c.sameNamed)
			}
		})
	}
	if LiveName(chartProduct("", `{}`), Defaults{}) != "" {
		t.Fatal("a chart product whose chart is not resolved has no revision yet")
	}
}

func TestOverlayGivesTheProductAsItWasAtTheRevision(t *testing.T) {
	old := chartProduct("sha256:1", `{"web":2}`)
	rev, _ := RevisionOf(old, Defaults{})
	data, err := rev.Encode()
	if err != nil {
		t.Fatal(err)
	}
	stored, err := DecodeRevision(data)
	if err != nil {
		t.Fatal(err)
	}
	now := chartProduct("sha256:2", `{"web":5}`)
	now.Spec.Plans[0].Values = &apiextensionsv1.JSON{Raw: []byte(`{"added":true}`)}
	now.Spec.Plans = append(now.Spec.Plans, saasv1alpha1.Plan{SKUCode: "enterprise", Values: &apiextensionsv1.JSON{Raw: []byte(`{"web":9}`)}})
	got := stored.Overlay(now)
	if got.Status.Chart.Digest != "sha256:1" || string(got.Spec.Plans[1].Values.Raw) != `{"web":2}` {
		t.Fatalf("chart %v, pro values %s", got.Status.Chart, got.Spec.Plans[1].Values.Raw)
	}
	if got.Spec.Plans[0].Values != nil {
		t.Fatalf("basic had no values at the revision, got %s", got.Spec.Plans[0].Values.Raw)
	}
	if string(got.Spec.Plans[2].Values.Raw) != `{"web":9}` {
		t.Fatal("a plan added after the revision keeps its values")
	}
	if now.Status.Chart.Digest != "sha256:2" {
		t.Fatal("Overlay changed the product it was given")
	}
	if stored.Name("crm") != LiveName(old, Defaults{}) {
		t.Fatal("a stored revision keeps its name")
	}
}

// FuzzDecodeRevision: any stored data decodes or fails cleanly, and what
// decodes can be overlaid, named and encoded again without a panic.
func FuzzDecodeRevision(f *testing.F) {
	rev, _ := RevisionOf(chartProduct("sha256:1", `{"web":2}`), Defaults{})
	seed, _ := rev.Encode()
	f.Add(seed)
	f.Add([]byte(`{"workload":{"image":"crm:1"}}`))
	f.Add([]byte(`{"planValues":{"pro":null}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rev, err := DecodeRevision(data)
		if err != nil {
			return
		}
		_ = rev.Overlay(chartProduct("sha256:2", `{}`))
		_ = rev.Name("crm")
		if _, err := rev.Encode(); err != nil {
			t.Fatalf("a decoded revision does not encode: %v", err)
		}
	})
}

// The SSO gateway's default image (the controllers' --gateway-image,
// kooper's own) is pinned in the revision of a product that names none:
// a kooper upgrade that changes it makes a new revision, which reaches the
// tenants in waves, where it changed every tenant's pod at once (issue
// 32's trial). A product naming its image, or without a gateway, keeps its
// revision whatever the default.
func TestTheGatewaysDefaultImageIsPartOfTheRevision(t *testing.T) {
	gateway := workloadProduct("crm:1")
	gateway.Name = "crm"
	gateway.Spec.Workload.SSO = &saasv1alpha1.WorkloadSSO{Gateway: &saasv1alpha1.SSOGateway{}}
	v1, v2 := Defaults{GatewayImage: "kooper:v1"}, Defaults{GatewayImage: "kooper:v2"}
	if LiveName(gateway, v1) == LiveName(gateway, v2) {
		t.Error("a new default gateway image made no new revision")
	}
	rev, _ := RevisionOf(gateway, v1)
	if got := rev.Workload.SSO.Gateway.Image; got != "kooper:v1" {
		t.Errorf("the revision pins gateway image %q, want kooper:v1", got)
	}
	if gateway.Spec.Workload.SSO.Gateway.Image != "" {
		t.Error("pinning the image changed the product")
	}
	if got := rev.Overlay(gateway).Spec.Workload.SSO.Gateway.Image; got != "kooper:v1" {
		t.Errorf("a tenant on the revision renders gateway image %q, want kooper:v1", got)
	}

	named := gateway.DeepCopy()
	named.Spec.Workload.SSO.Gateway.Image = "registry.example.com/kooper:pinned"
	plain := workloadProduct("crm:1")
	plain.Name = "crm"
	for name, p := range map[string]*saasv1alpha1.SaaSProduct{"naming its image": named, "without a gateway": plain} {
		if LiveName(p, v1) != LiveName(p, v2) || LiveName(p, v1) != LiveName(p, Defaults{}) {
			t.Errorf("a product %s changed revision with the default gateway image", name)
		}
	}
}

// A plan without values adds nothing to the app: adding one (a new
// marketplace SKU that only changes replicas) or removing one makes no new
// revision. Before, it changed the revision's name, so Step took it for a
// new version: a rollout paused on a bad chart started again, un-paused,
// and every tenant went through a wave for nothing. The stored revision
// still lists the plan, so that Overlay gives it no values.
func TestAPlanWithoutValuesMakesNoNewRevision(t *testing.T) {
	base := chartProduct("sha256:1", `{"web":2}`)
	withPlan := func(values string) *saasv1alpha1.SaaSProduct {
		p := base.DeepCopy()
		plan := saasv1alpha1.Plan{SKUCode: "big"}
		if values != "" {
			plan.Values = &apiextensionsv1.JSON{Raw: []byte(values)}
		}
		p.Spec.Plans = append(p.Spec.Plans, plan)
		return p
	}
	withoutBasic := base.DeepCopy()
	withoutBasic.Spec.Plans = withoutBasic.Spec.Plans[1:]
	cases := []struct {
		name      string
		q         *saasv1alpha1.SaaSProduct
		sameNamed bool
	}{
		{"a plan added without values", withPlan(""), true},
		{"a plan added with null values", withPlan("null"), true},
		{"a plan added with empty values", withPlan(" { } "), true},
		{"a plan without values removed", withoutBasic, true},
		{"a plan added with values", withPlan(`{"web":4}`), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, q := LiveName(base, Defaults{}), LiveName(c.q, Defaults{})
			if (p == q) != c.sameNamed {
				t.Fatalf("%s and %s: same name %v, want %v", p, q, p == q, c.sameNamed)
			}
		})
	}
	rev, _ := RevisionOf(withPlan(""), Defaults{})
	if v, ok := rev.PlanValues["big"]; !ok || v != nil {
		t.Fatalf("the revision stores the plan without values as null, got %v (listed %v)", v, ok)
	}
	now := withPlan(`{"web":7}`)
	if got := rev.Overlay(now).Spec.Plans[2].Values; got != nil {
		t.Fatalf("a plan that had no values at the revision gets none, got %s", got.Raw)
	}
}

// A product whose rollout already knows its revision under the name kooper
// gave it before plans without values were left out of the hash keeps that
// name: an upgrade of kooper starts no rollout, nor moves a paused one on.
func TestARevisionKnownUnderItsEarlierNameKeepsIt(t *testing.T) {
	product := chartProduct("sha256:1", `{"web":2}`)
	product.Spec.Plans = append(product.Spec.Plans, saasv1alpha1.Plan{SKUCode: "free"}) // no values
	rev, ok := RevisionOf(product, Defaults{})
	if !ok {
		t.Fatal("no revision")
	}
	earlier, now := rev.hashedName(product.Name), rev.Name(product.Name)
	if earlier == now {
		t.Fatalf("both names are %s: the case tests nothing", now)
	}
	for _, c := range []struct {
		name   string
		status *saasv1alpha1.RolloutStatus
		want   string
	}{
		{"no rollout yet", nil, now},
		{"paused on it, under the earlier name", &saasv1alpha1.RolloutStatus{CurrentRevision: "crm-old", UpdateRevision: earlier, State: saasv1alpha1.RolloutPaused}, earlier},
		{"rolled out under the earlier name", &saasv1alpha1.RolloutStatus{CurrentRevision: earlier, UpdateRevision: earlier}, earlier},
		{"another revision", &saasv1alpha1.RolloutStatus{CurrentRevision: "crm-old", UpdateRevision: "crm-older"}, now},
		{"already under the new name", &saasv1alpha1.RolloutStatus{CurrentRevision: now, UpdateRevision: now}, now},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := product.DeepCopy()
			p.Status.Rollout = c.status
			if got := rev.NameIn(p); got != c.want {
				t.Fatalf("NameIn = %s, want %s", got, c.want)
			}
			if got := LiveName(p, Defaults{}); got != c.want {
				t.Fatalf("LiveName = %s, want %s", got, c.want)
			}
		})
	}
}

// A paused rollout's revision renamed by kooper or the API server, not by
// the merchant, is the same version (SameVersion): a kooper upgrade's new
// --gateway-image, with or without an edit of the product that makes no
// new version, and, with the product's spec unchanged, a schema default
// the API server fills in. A new image, a new chart digest (a moved tag)
// or a new gateway image the spec names is the merchant's new version.
// Taken for one, a kooper upgrade moved a rollout paused on a bad version
// on to its next wave.
func TestARenamedRevisionIsTheSameVersion(t *testing.T) {
	gateway := workloadProduct("crm:1")
	gateway.Name = "crm"
	gateway.Spec.Workload.SSO = &saasv1alpha1.WorkloadSSO{Gateway: &saasv1alpha1.SSOGateway{}}
	v1, v2 := Defaults{GatewayImage: "kooper:v1"}, Defaults{GatewayImage: "kooper:v2"}
	paused, _ := RevisionOf(gateway, v1)
	withDefault := gateway.DeepCopy()
	withDefault.Spec.Workload.ImagePullPolicy = "IfNotPresent" // a +kubebuilder:default added, filled in on read
	newImage := gateway.DeepCopy()
	newImage.Spec.Workload.Image = "crm:2"
	namedGateway := gateway.DeepCopy()
	namedGateway.Spec.Workload.SSO.Gateway.Image = "kooper:fixed"
	pausedChart, _ := RevisionOf(chartProduct("sha256:1", `{"web":2}`), Defaults{})
	cases := []struct {
		name          string
		now           *saasv1alpha1.SaaSProduct
		d             Defaults
		paused        Revision
		specUnchanged bool
		same          bool
	}{
		{"a new --gateway-image", gateway, v2, paused, true, true},
		{"a new --gateway-image with an edit of the spec", gateway, v2, paused, false, true},
		{"a schema default filled in", withDefault, v1, paused, true, true},
		{"a schema default and a new --gateway-image", withDefault, v2, paused, true, true},
		{"a new field in a new generation", withDefault, v1, paused, false, false},
		{"a new image", newImage, v1, paused, false, false},
		{"a gateway image the spec names", namedGateway, v1, paused, false, false},
		{"a chart's digest moved, the spec unchanged", chartProduct("sha256:2", `{"web":2}`), Defaults{}, pausedChart, true, false},
		{"a chart's values", chartProduct("sha256:1", `{"web":3}`), Defaults{}, pausedChart, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rev, _ := RevisionOf(c.now, c.d)
			if rev.Name(c.now.Name) == c.paused.Name(c.now.Name) {
				t.Fatal("the same name: the case tests nothing")
			}
			if got := rev.SameVersion(c.now, c.paused, c.specUnchanged); got != c.same {
				t.Fatalf("SameVersion = %v, want %v", got, c.same)
			}
		})
	}
}
