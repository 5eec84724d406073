package tenantobjects

import (
	"context"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/testenv"
)

// gateway is an SSO gateway with these resources; nil: its defaults.
type gateway struct {
	resources *saasv1alpha1.ContainerResources
}

// TestTheLimitRangeIsMadeExactlyWhenItWouldChangeAPod asks a real
// kube-apiserver's LimitRanger admission, for products whose containers set
// more or fewer of the plan's resources: kooper makes the tenant's
// LimitRange (Objects puts it among the present) exactly when admitting the
// tenant's pod under it gives some container a resource the pod's template
// does not, so that leaving it out changes no pod (issue 26).
func TestTheLimitRangeIsMadeExactlyWhenItWouldChangeAPod(t *testing.T) {
	g := NewWithT(t)
	env, err := testenv.Start()
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = env.Stop() }()
	c, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	ctx := context.Background()

	q := resource.MustParse
	cases := []struct {
		name      string
		resources *saasv1alpha1.ContainerResources
		gateway   *gateway // nil: no gateway
		wantMade  bool
	}{
		{name: "the app alone, requests and limits", resources: &saasv1alpha1.ContainerResources{
			Requests: corev1.ResourceList{corev1.ResourceCPU: q("100m")}, Limits: corev1.ResourceList{corev1.ResourceMemory: q("256Mi")}}},
		{name: "the app alone, limits only", resources: &saasv1alpha1.ContainerResources{
			Limits: corev1.ResourceList{corev1.ResourceCPU: q("1"), corev1.ResourceMemory: q("1Gi")}}},
		{name: "the gateway's defaults cover the app's cpu and memory", gateway: &gateway{},
			resources: &saasv1alpha1.ContainerResources{Requests: corev1.ResourceList{corev1.ResourceCPU: q("100m")}}},
		{name: "a gateway that sets nothing", wantMade: true, gateway: &gateway{&saasv1alpha1.ContainerResources{}},
			resources: &saasv1alpha1.ContainerResources{Requests: corev1.ResourceList{corev1.ResourceCPU: q("100m")}}},
		{name: "a gateway without the app's ephemeral-storage limit", wantMade: true,
			gateway: &gateway{&saasv1alpha1.ContainerResources{Limits: corev1.ResourceList{corev1.ResourceCPU: q("100m")}}},
			resources: &saasv1alpha1.ContainerResources{Limits: corev1.ResourceList{
				corev1.ResourceCPU: q("1"), corev1.ResourceEphemeralStorage: q("1Gi")}}},
		{name: "a gateway whose limit gives it the request the app sets", gateway: &gateway{&saasv1alpha1.ContainerResources{
			Limits: corev1.ResourceList{corev1.ResourceMemory: q("64Mi")}}},
			resources: &saasv1alpha1.ContainerResources{Requests: corev1.ResourceList{corev1.ResourceMemory: q("128Mi")}}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			product := goldenProduct()
			product.Spec.Workload.Resources = tc.resources
			if tc.gateway != nil {
				product.Spec.Workload.SSO = &saasv1alpha1.WorkloadSSO{Gateway: &saasv1alpha1.SSOGateway{Resources: tc.gateway.resources}}
			}
			d := goldenTenant(product)
			present, absent := d.Objects()
			limits := find[*corev1.LimitRange](append(present, absent...))
			g.Expect(limits).NotTo(BeNil(), "every case sets resources")
			made := find[*corev1.LimitRange](present) != nil
			template := find[*appsv1.Deployment](present).Spec.Template

			with, without := fmt.Sprintf("lr-%d-with", i), fmt.Sprintf("lr-%d-without", i)
			for _, ns := range []string{with, without} {
				g.Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
				// envtest runs no controller-manager to make it, and the
				// ServiceAccount admission refuses a pod without it.
				g.Expect(c.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"}})).To(Succeed())
			}
			limits = limits.DeepCopy()
			limits.Namespace = with
			g.Expect(c.Create(ctx, limits)).To(Succeed())
			// The admission has the LimitRange once a container that sets
			// nothing gets its defaults.
			bare := corev1.PodSpec{Containers: []corev1.Container{{Name: "bare", Image: "bare"}}}
			g.Eventually(func() (corev1.ResourceRequirements, error) {
				pod, err := admitted(ctx, c, with, bare)
				return pod.Spec.Containers[0].Resources, err
			}).ShouldNot(BeZero())

			under, err := admitted(ctx, c, with, template.Spec)
			g.Expect(err).NotTo(HaveOccurred())
			alone, err := admitted(ctx, c, without, template.Spec)
			g.Expect(err).NotTo(HaveOccurred())
			changed := !apiequality.Semantic.DeepEqual(under.Spec.Containers, alone.Spec.Containers)
			g.Expect(changed).To(Equal(tc.wantMade), "the LimitRange changed a container")
			g.Expect(made).To(Equal(tc.wantMade), "kooper made the LimitRange")
		})
	}
}

// admitted is the pod of spec as the API server would store it in
// namespace, after defaulting and admission (a dry run: nothing is stored).
func admitted(ctx context.Context, c client.Client, namespace string, spec corev1.PodSpec) (*corev1.Pod, error) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, GenerateName: "pod-"}, Spec: *spec.DeepCopy()}
	err := c.Create(ctx, pod, client.DryRunAll)
	return pod, err
}
