package tenantobjects

import (
	"slices"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// gatewayObjects renders the golden tenant with sso as its product's.
func gatewayObjects(t *testing.T, sso *saasv1alpha1.WorkloadSSO, gatewayImage string) (*appsv1.Deployment, *corev1.Service) {
	t.Helper()
	product := goldenProduct()
	product.Spec.Workload.SSO = sso
	d := goldenTenant(product)
	d.GatewayImage = gatewayImage
	present, _ := d.Objects()
	var deployment *appsv1.Deployment
	var service *corev1.Service
	for _, obj := range present {
		switch o := obj.(type) {
		case *appsv1.Deployment:
			deployment = o
		case *corev1.Service:
			service = o
		}
	}
	if deployment == nil || service == nil {
		t.Fatal("no Deployment or Service")
	}
	return deployment, service
}

func TestTheGatewayRunsBesideTheAppAndTheServiceGoesThroughIt(t *testing.T) {
	g := NewWithT(t)
	deployment, service := gatewayObjects(t, &saasv1alpha1.WorkloadSSO{Gateway: &saasv1alpha1.SSOGateway{AppID: "app-1"}}, "registry.example.com/kooper:v1")
	containers := deployment.Spec.Template.Spec.Containers
	g.Expect(containers).To(HaveLen(2))
	gw := containers[1]
	g.Expect(gw.Name).To(Equal(GatewayContainerName))
	g.Expect(gw.Image).To(Equal("registry.example.com/kooper:v1"))
	g.Expect(gw.Args).To(Equal([]string{"gateway", "--listen=:4180", "--upstream=http://127.0.0.1:8080",
		"--sso-dir=/etc/kooper/sso", "--directory-dir=/etc/kooper/directory", "--app-id=app-1",
		"--external-url=https://i-0123456789abcdef0123.crm.example.com"}))
	g.Expect(gw.Ports).To(ConsistOf(corev1.ContainerPort{Name: GatewayPortName, ContainerPort: 4180, Protocol: corev1.ProtocolTCP}))
	g.Expect(gw.Resources.Requests.Cpu().String()).To(Equal("10m"))
	g.Expect(gw.Resources.Limits.Memory().String()).To(Equal("64Mi"))
	g.Expect(gw.VolumeMounts).To(Equal(directoryMounts("/etc/kooper")))
	g.Expect(*gw.SecurityContext.ReadOnlyRootFilesystem).To(BeTrue())
	g.Expect(gw.ReadinessProbe.HTTPGet.Path).To(Equal(GatewayHealthPath))

	g.Expect(service.Spec.Ports[0].Port).To(Equal(int32(8080)))
	g.Expect(service.Spec.Ports[0].TargetPort).To(Equal(intstr.FromString(GatewayPortName)))
}

func TestTheGatewaysDefaultsAndOverrides(t *testing.T) {
	cases := []struct {
		name      string
		gateway   saasv1alpha1.SSOGateway
		image     string
		wantImage string
		wantCPU   string
		wantPort  int32
	}{
		{"defaults", saasv1alpha1.SSOGateway{}, "", DefaultGatewayImage, "10m", 4180},
		{"the controllers' image", saasv1alpha1.SSOGateway{}, "swr.example.com/kooper:v2", "swr.example.com/kooper:v2", "10m", 4180},
		{"the product's", saasv1alpha1.SSOGateway{Image: "mirror.example.com/kooper:v2", Port: 9000,
			Resources: &saasv1alpha1.ContainerResources{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")}}},
			"swr.example.com/kooper:v2", "mirror.example.com/kooper:v2", "50m", 9000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			deployment, _ := gatewayObjects(t, &saasv1alpha1.WorkloadSSO{Gateway: &tc.gateway}, tc.image)
			gw := deployment.Spec.Template.Spec.Containers[1]
			g.Expect(gw.Image).To(Equal(tc.wantImage))
			g.Expect(gw.Resources.Requests.Cpu().String()).To(Equal(tc.wantCPU))
			g.Expect(gw.Ports[0].ContainerPort).To(Equal(tc.wantPort))
			g.Expect(gw.Args).NotTo(ContainElement(HavePrefix("--app-id")))
		})
	}
}

// The enterprise workplace's own logins (spec §7.2, open in §8) are
// refused unless the product accepts them.
func TestWorkplaceLoginsAreAcceptedOnlyWhenTheProductSaysSo(t *testing.T) {
	for policy, want := range map[saasv1alpha1.WorkplaceLoginPolicy]bool{
		"": false, saasv1alpha1.WorkplaceLoginsRefuse: false, saasv1alpha1.WorkplaceLoginsAccept: true} {
		deployment, _ := gatewayObjects(t, &saasv1alpha1.WorkloadSSO{Gateway: &saasv1alpha1.SSOGateway{WorkplaceLogins: policy}}, "")
		if got := slices.Contains(deployment.Spec.Template.Spec.Containers[1].Args, "--workplace-logins"); got != want {
			t.Errorf("workplaceLogins %q: --workplace-logins passed %v, want %v", policy, got, want)
		}
	}
}

func TestWithoutAGatewayThePodIsUnchanged(t *testing.T) {
	g := NewWithT(t)
	deployment, service := gatewayObjects(t, nil, "registry.example.com/kooper:v1")
	g.Expect(deployment.Spec.Template.Spec.Containers).To(HaveLen(1))
	g.Expect(service.Spec.Ports[0].TargetPort).To(Equal(intstr.FromString("http")))
	g.Expect(GatewayResources(goldenProduct().Spec.Workload)).To(BeNil())
}

// The gateway reaches the kit's domainName on TCP 443 outside the
// cluster: the rule every joint-operation tenant has, which sso's need of
// directory guarantees.
func TestTheGatewaysEgressToTheKitFitsTheNetworkPolicy(t *testing.T) {
	g := NewWithT(t)
	product := goldenProduct()
	product.Spec.Workload.SSO = &saasv1alpha1.WorkloadSSO{Gateway: &saasv1alpha1.SSOGateway{}}
	policy := goldenTenant(product).networkPolicy()
	g.Expect(policy.Spec.Egress).To(ContainElement(outsideClusterHTTPS(nil)))
	g.Expect(policy.Spec.PodSelector.MatchLabels).To(BeEmpty(), "the policy covers the gateway's pod as it does the app's")
}
