package tenantobjects

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// A claim's class and access modes cannot change, nor its size shrink: an
// existing claim keeps them, whatever the product now says (issue 28).
func TestTheDataClaimKeepsWhatTheAPIServerWillNotChange(t *testing.T) {
	existing := func(class string, mode corev1.PersistentVolumeAccessMode, size string) *corev1.PersistentVolumeClaim {
		pvc := &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{mode},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}}}}
		if class != "" {
			pvc.Spec.StorageClassName = ptr.To(class)
		}
		return pvc
	}
	cases := []struct {
		name      string
		storage   saasv1alpha1.StorageTemplate
		live      *corev1.PersistentVolumeClaim
		wantClass *string
		wantMode  corev1.PersistentVolumeAccessMode
		wantSize  string
	}{
		{name: "new, defaults", storage: saasv1alpha1.StorageTemplate{Size: resource.MustParse("5Gi")},
			wantMode: corev1.ReadWriteOnce, wantSize: "5Gi"},
		{name: "new, shared file storage", storage: saasv1alpha1.StorageTemplate{Size: resource.MustParse("5Gi"), StorageClassName: "csi-nas", AccessMode: corev1.ReadWriteMany},
			wantClass: ptr.To("csi-nas"), wantMode: corev1.ReadWriteMany, wantSize: "5Gi"},
		{name: "existing, the product moved to another class and mode",
			storage: saasv1alpha1.StorageTemplate{Size: resource.MustParse("5Gi"), StorageClassName: "csi-nas", AccessMode: corev1.ReadWriteMany},
			live:    existing("csi-disk", corev1.ReadWriteOnce, "5Gi"), wantClass: ptr.To("csi-disk"), wantMode: corev1.ReadWriteOnce, wantSize: "5Gi"},
		{name: "existing with the default class the API server gave it, none asked",
			storage: saasv1alpha1.StorageTemplate{Size: resource.MustParse("5Gi")},
			live:    existing("standard", corev1.ReadWriteOnce, "5Gi"), wantMode: corev1.ReadWriteOnce, wantSize: "5Gi"},
		{name: "existing, grown", storage: saasv1alpha1.StorageTemplate{Size: resource.MustParse("20Gi")},
			live: existing("", corev1.ReadWriteOnce, "5Gi"), wantMode: corev1.ReadWriteOnce, wantSize: "20Gi"},
		{name: "existing, the product asks for less: never shrunk", storage: saasv1alpha1.StorageTemplate{Size: resource.MustParse("1Gi")},
			live: existing("", corev1.ReadWriteOnce, "5Gi"), wantMode: corev1.ReadWriteOnce, wantSize: "5Gi"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			product := goldenProduct()
			product.Spec.Workload.Storage = &tc.storage
			d := goldenTenant(product)
			d.Volume = tc.live
			present, _ := d.Objects()
			pvc := find[*corev1.PersistentVolumeClaim](present)
			g.Expect(pvc).NotTo(BeNil())
			g.Expect(pvc.Spec.StorageClassName).To(Equal(tc.wantClass))
			g.Expect(pvc.Spec.AccessModes).To(ConsistOf(tc.wantMode))
			size := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
			g.Expect(size.String()).To(Equal(tc.wantSize))
		})
	}
}

func TestImagePullSecrets(t *testing.T) {
	cases := []struct {
		name              string
		copied, namespace string
		want              []corev1.LocalObjectReference
	}{
		{name: "none"},
		{name: "copied", copied: "swr-pull", want: []corev1.LocalObjectReference{{Name: ImagePullSecretName}}},
		{name: "CCE's default-secret, used where it is", namespace: "default-secret",
			want: []corev1.LocalObjectReference{{Name: "default-secret"}}},
		{name: "both", copied: "swr-pull", namespace: "default-secret",
			want: []corev1.LocalObjectReference{{Name: ImagePullSecretName}, {Name: "default-secret"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			product := goldenProduct()
			product.Spec.Workload.ImagePullSecretName, product.Spec.Workload.NamespaceImagePullSecretName = tc.copied, tc.namespace
			g.Expect(goldenTenant(product).podSpec().ImagePullSecrets).To(Equal(tc.want))
		})
	}
}

// CCE's cce ingress class: the ELB's annotations on the Ingress, a NodePort
// Service behind it, and the ELB's ranges admitted by the NetworkPolicy.
func TestIngressForCCE(t *testing.T) {
	g := NewWithT(t)
	product := goldenProduct()
	product.Spec.Workload.Ingress = &saasv1alpha1.IngressTemplate{ClassName: "cce", Path: "/", ServiceType: corev1.ServiceTypeNodePort,
		Annotations: map[string]string{"kubernetes.io/elb.id": "0b4e9b3f", "kubernetes.io/elb.port": "443"},
		AllowFrom:   []saasv1alpha1.IPBlock{{CIDR: "100.125.0.0/16"}}}
	present, _ := goldenTenant(product).Objects()

	ing := find[*networkingv1.Ingress](present)
	g.Expect(ing.Annotations).To(Equal(map[string]string{"kubernetes.io/elb.id": "0b4e9b3f", "kubernetes.io/elb.port": "443"}))
	g.Expect(ing.Spec.IngressClassName).To(Equal(ptr.To("cce")))
	g.Expect(find[*corev1.Service](present).Spec.Type).To(Equal(corev1.ServiceTypeNodePort))

	from := find[*networkingv1.NetworkPolicy](present).Spec.Ingress[0].From
	g.Expect(from).To(ContainElement(networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: "100.125.0.0/16"}}))
	g.Expect(from[:2]).To(HaveEach(HaveField("NamespaceSelector", Not(BeNil()))), "the namespaces stay first")

	product.Spec.Workload.Ingress.Annotations = nil
	product.Spec.Workload.Ingress.ServiceType = corev1.ServiceTypeClusterIP
	present, _ = goldenTenant(product).Objects()
	g.Expect(find[*networkingv1.Ingress](present).Annotations).To(BeEmpty())
	g.Expect(find[*corev1.Service](present).Spec.Type).To(BeEmpty(), "ClusterIP is the API server's default: left out")
	g.Expect(find[*corev1.Service](present).Spec.ClusterIP).To(BeEmpty(), "the API server allocates one")

	product.Spec.Workload.Ingress.ClusterIP = corev1.ClusterIPNone
	present, _ = goldenTenant(product).Objects()
	g.Expect(find[*corev1.Service](present).Spec.ClusterIP).To(Equal(corev1.ClusterIPNone), "headless")
	g.Expect(find[*corev1.Service](present).Spec.Type).To(BeEmpty())
}

func TestCheckAllowFrom(t *testing.T) {
	g := NewWithT(t)
	workload := func(blocks ...saasv1alpha1.IPBlock) *saasv1alpha1.SaaSProductSpec {
		return &saasv1alpha1.SaaSProductSpec{Workload: &saasv1alpha1.WorkloadTemplate{Ingress: &saasv1alpha1.IngressTemplate{AllowFrom: blocks}}}
	}
	g.Expect(CheckAllowFrom(workload(saasv1alpha1.IPBlock{CIDR: "100.125.0.0/16"}, saasv1alpha1.IPBlock{CIDR: "192.168.0.0/16", Except: []string{"192.168.1.0/24"}}))).To(Succeed())
	err := CheckAllowFrom(workload(saasv1alpha1.IPBlock{CIDR: "100.125.0.0/16"}, saasv1alpha1.IPBlock{CIDR: "192.168.0.1/16"}))
	g.Expect(err).To(MatchError(ContainSubstring("workload.ingress.allowFrom[1].cidr")))
	err = CheckAllowFrom(workload(saasv1alpha1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"11.0.0.0/16"}}))
	g.Expect(err).To(MatchError(ContainSubstring("workload.ingress.allowFrom[0].except[0]")))
	g.Expect(CheckAllowFrom(&saasv1alpha1.SaaSProductSpec{Workload: &saasv1alpha1.WorkloadTemplate{}})).To(Succeed(), "no Ingress, no ranges")

	// A chart product's ranges are checked the same way, under their own path.
	chart := &saasv1alpha1.SaaSProductSpec{Chart: &saasv1alpha1.ChartTemplate{
		IngressAllowFrom: []saasv1alpha1.IPBlock{{CIDR: "100.125.0.0/16"}, {CIDR: "::ffff:10.0.0.0/104"}}}}
	g.Expect(CheckAllowFrom(chart)).To(MatchError(ContainSubstring("chart.ingressAllowFrom[1].cidr")))
	chart.Chart.IngressAllowFrom = chart.Chart.IngressAllowFrom[:1]
	g.Expect(CheckAllowFrom(chart)).To(Succeed())
}

// A tenant whose claim predates the product's shared storage cannot run
// the plan's replicas on several nodes: the warning says so, and only then.
func TestVolumeWarning(t *testing.T) {
	claim := func(mode corev1.PersistentVolumeAccessMode) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{mode}}}
	}
	cases := []struct {
		name     string
		live     *corev1.PersistentVolumeClaim
		replicas int32
		want     string
	}{
		{name: "no claim yet", replicas: 3},
		{name: "one replica on a disk", live: claim(corev1.ReadWriteOnce), replicas: 1},
		{name: "three on a shared claim", live: claim(corev1.ReadWriteMany), replicas: 3},
		{name: "three on a disk made before the storage became shared", live: claim(corev1.ReadWriteOnce), replicas: 3,
			want: "plan basic runs 3 replicas, but the tenant's volume data is [ReadWriteOnce]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			product := goldenProduct()
			product.Spec.Plans[0].Replicas = tc.replicas
			d := goldenTenant(product)
			d.Volume = tc.live
			if tc.want == "" {
				NewWithT(t).Expect(d.VolumeWarning()).To(BeEmpty())
			} else {
				NewWithT(t).Expect(d.VolumeWarning()).To(HavePrefix(tc.want))
			}
		})
	}
}
