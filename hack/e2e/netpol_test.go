package e2e

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kooper-io/kooper/internal/localstack"
)

// testOwnPolicies reads kooper's own NetworkPolicies and metrics Services as
// the chart installed them (kwok enforces no NetworkPolicy: enforcement is
// the real-node issue's). The receiver's pods admit the receiver port from
// every source (networkPolicy.receiverFrom empty), and their metrics only
// from the monitoring namespace; the controllers' pods
// admit their metrics only from there; the receiver's Service carries the
// receiver port alone, each component's metrics a ClusterIP Service of
// their own, HTTPS.
func testOwnPolicies(t *testing.T, e *env) {
	g := NewWithT(t)
	tcp := corev1.ProtocolTCP
	port := func(name string) []networkingv1.NetworkPolicyPort {
		p := intstr.FromString(name)
		return []networkingv1.NetworkPolicyPort{{Port: &p, Protocol: &tcp}}
	}
	monitoring := []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{
		MatchLabels: map[string]string{"kubernetes.io/metadata.name": "monitoring"}}}}
	want := map[string][]networkingv1.NetworkPolicyIngressRule{
		"kooper-receiver": {
			{Ports: port("http-receiver")},
			{From: monitoring, Ports: port("https-metrics")},
		},
		"kooper-controllers": {{From: monitoring, Ports: port("https-metrics")}},
	}
	for name, rules := range want {
		np := &networkingv1.NetworkPolicy{}
		g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Namespace: localstack.Namespace, Name: name}, np)).To(Succeed())
		component := name[len("kooper-"):]
		g.Expect(np.Spec.PodSelector.MatchLabels).To(HaveKeyWithValue("app.kubernetes.io/component", component), name)
		g.Expect(np.Spec.PolicyTypes).To(Equal([]networkingv1.PolicyType{networkingv1.PolicyTypeIngress}), name)
		g.Expect(np.Spec.Ingress).To(Equal(rules), name)
		g.Expect(np.Spec.Egress).To(BeEmpty(), name)
	}

	services := map[string][]string{"kooper": {"http-receiver"},
		"kooper-receiver-metrics": {"https-metrics"}, "kooper-controllers-metrics": {"https-metrics"}}
	for name, ports := range services {
		svc := &corev1.Service{}
		g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Namespace: localstack.Namespace, Name: name}, svc)).To(Succeed())
		var got []string
		for _, p := range svc.Spec.Ports {
			got = append(got, p.Name)
		}
		g.Expect(got).To(Equal(ports), name)
		g.Expect(svc.Spec.Type).To(Equal(corev1.ServiceTypeClusterIP), name)
	}
}
