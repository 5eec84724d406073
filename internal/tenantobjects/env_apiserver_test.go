package tenantobjects

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/apply"
	"github.com/kooper-io/kooper/internal/testenv"
)

// TestADeploymentCreatedWithAKooperVariableTwiceIsAppliedAgain asks a real
// kube-apiserver what becomes of a tenant whose Deployment kooper created
// while it still rendered a product's KOOPER_INSTANCE_ID after its own:
// the create is accepted, but applying that rendering again (a plan
// change, an unfreeze) is refused for the duplicate key of env, a list
// map. The rendering of today lists each variable once, and its apply
// replaces the stored duplicates, so such a tenant heals on the next pass.
func TestADeploymentCreatedWithAKooperVariableTwiceIsAppliedAgain(t *testing.T) {
	g := NewWithT(t)
	env, err := testenv.Start()
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = env.Stop() }()
	c, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	ctx := context.Background()

	product := goldenProduct()
	product.Spec.Workload.Env = []saasv1alpha1.EnvVar{{Name: "LOG_LEVEL", Value: "info"}, {Name: InstanceIDEnv, Value: "the-same-for-every-tenant"}}
	d := goldenTenant(product)
	g.Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: d.Namespace}})).To(Succeed())
	applier := func(fresh bool) *apply.Applier {
		return &apply.Applier{Client: c, Reader: c, Scheme: env.Scheme, Owner: "kooper", FreshNamespace: fresh,
			HashAnnotation: saasv1alpha1.LastAppliedHashAnnotation, CreatedAnnotation: saasv1alpha1.FieldsOwnerAnnotation}
	}

	// As the rendering before the fix: the product's variable after kooper's.
	before := d.deployment()
	app := &before.Spec.Template.Spec.Containers[0]
	app.Env = append(app.Env, corev1.EnvVar{Name: InstanceIDEnv, Value: "the-same-for-every-tenant"})
	_, err = applier(true).Apply(ctx, before.DeepCopy())
	g.Expect(err).NotTo(HaveOccurred(), "the create accepts the duplicate")
	before.Spec.Replicas = new(int32) // a freeze: anything that changes the Deployment
	_, err = applier(false).Apply(ctx, before.DeepCopy())
	g.Expect(err).To(MatchError(ContainSubstring("duplicate")), "an apply of the duplicate is refused")

	_, err = applier(false).Apply(ctx, d.deployment())
	g.Expect(err).NotTo(HaveOccurred())
	live := &appsv1.Deployment{}
	g.Expect(c.Get(ctx, client.ObjectKey{Namespace: d.Namespace, Name: AppName}, live)).To(Succeed())
	var ids []string
	for _, e := range live.Spec.Template.Spec.Containers[0].Env {
		if e.Name == InstanceIDEnv {
			ids = append(ids, e.Value)
		}
	}
	g.Expect(ids).To(Equal([]string{d.Tenant.Spec.InstanceID}))
}
