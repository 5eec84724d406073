package chart

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/testenv"
)

// applyNamespace server-side applies namespace name with labels and annotations, forcing
// ownership under kooper's field owner, as a server-side dry run: what the tenant controller
// sends for a tenant's namespace (tenantobjects.NamespaceObject).
func applyNamespace(name string, labels, annotations map[string]string) func(context.Context, client.Client) error {
	return func(ctx context.Context, c client.Client) error {
		meta := map[string]any{"name": name, "labels": toAny(labels)}
		if annotations != nil {
			meta["annotations"] = toAny(annotations)
		}
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": meta}}
		return c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("kooper"), client.ForceOwnership, client.DryRunAll)
	}
}

func toAny(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// checkNamespaceOwnerKept: two products' prefixes can name one namespace (prefix "tenant-i"
// with instance "0123", prefix "tenant" with instance "i-0123"), and a forced server-side
// apply of one tenant's namespace over the other's relabelled it, so that the first tenant's
// release deleted the other's data. The tenant controller refuses such a namespace
// (NamespaceOfAnotherTenant); the chart's admission policy refuses the change of
// saas.kooper.io/instance-id itself, for a namespace the cache has not seen yet. The tenant's
// own applies pass. Run by TestLeastPrivilege, on its control plane with the chart's RBAC and
// policy in effect.
func checkNamespaceOwnerKept(ctx context.Context, t *testing.T, admin, controllersClient client.Client, isPolicyDenial func(error) bool) {
	g := NewWithT(t)
	g.SetDefaultEventuallyTimeout(testenv.EventuallyTimeout)
	g.SetDefaultEventuallyPollingInterval(testenv.EventuallyPolling)
	const victimNS, victim = "tenant-i-0123456789abcdef0123", "i-0123456789abcdef0123"
	g.Expect(admin.Create(ctx, namespace(victimNS, tenantLabels(victim), nil))).To(Succeed())
	g.Eventually(func() error {
		return applyNamespace(victimNS, tenantLabels(victim), nil)(ctx, controllersClient)
	}).Should(Succeed(), "the controllers' RBAC never took effect")

	intruder := tenantLabels("0123456789abcdef0123")
	intruder[saasv1alpha1.ProductLabel] = "intruder"
	marked := map[string]string{saasv1alpha1.DeleteAfterAnnotation: "2030-01-01T00:00:00Z"}
	for _, c := range []struct {
		name       string
		do         func(context.Context, client.Client) error
		wantDenied string // "" when the request must pass
	}{
		{"apply another tenant's labels", applyNamespace(victimNS, intruder, nil),
			"refused: Namespace " + victimNS + " of instance " + victim + " as instance 0123456789abcdef0123"},
		{"apply another tenant's labels with a delete-after mark", applyNamespace(victimNS, intruder, marked),
			"may not change the tenant a namespace belongs to"},
		{"merge-patch another instance-id", patch(namespace(victimNS, nil, nil), `{"metadata":{"labels":{"saas.kooper.io/instance-id":"0123456789abcdef0123"}}}`),
			"may not change the tenant a namespace belongs to"},
		{"merge-patch the instance-id away", patch(namespace(victimNS, nil, nil), `{"metadata":{"labels":{"saas.kooper.io/instance-id":null}}}`),
			"refused: Namespace " + victimNS + " of instance " + victim + " without the label"},
		{"apply the tenant's own labels", applyNamespace(victimNS, tenantLabels(victim), nil), ""},
		{"apply the tenant's own labels with a delete-after mark", applyNamespace(victimNS, tenantLabels(victim), marked), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := NewWithT(t)
			err := c.do(ctx, controllersClient)
			if c.wantDenied == "" {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(isPolicyDenial(err)).To(BeTrue(), "the admission policy must refuse it, got %v", err)
			g.Expect(err.Error()).To(ContainSubstring(c.wantDenied))
		})
	}
}
