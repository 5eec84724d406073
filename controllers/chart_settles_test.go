package controllers

import (
	"encoding/base64"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"helm.sh/helm/v3/pkg/chart"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/chartrender"
)

// settlingExtras are templates that the API server stores otherwise than
// they are written: base64 in a YAML `|` block (a trailing newline) and
// wrapped at 76 characters, as `base64` and openssl write it.
var settlingExtras = map[string]string{
	"templates/creds-secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-creds\ndata:\n" +
		"  password: |\n    aHVudGVyMg==\n  long: |\n" + wrappedBase64("    ") + "  plain: aHVudGVyMg==\n",
	"templates/blob-configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-blob\nbinaryData:\n" +
		"  blob: |\n" + wrappedBase64("    "),
}

// longSecretValue is 105 bytes: 140 base64 characters, over one line of 76.
var longSecretValue = strings.Repeat("a long secret value, ", 5)

// wrappedBase64 is longSecretValue in base64 wrapped at 76 characters,
// each line after prefix.
func wrappedBase64(prefix string) string {
	b := base64.StdEncoding.EncodeToString([]byte(longSecretValue))
	return prefix + b[:76] + "\n" + prefix + b[76:] + "\n"
}

// A chart whose StatefulSet names its claim templates' apiVersion and
// kind (many charts add them for Argo CD), and whose Secret and ConfigMap
// hold valid base64 written otherwise than Go writes it, costs no write
// once its tenant is Ready. The API server stores neither the claim
// templates' apiVersion and kind nor the base64 as written; before, kooper
// compared what it wrote with what the cache read back, never found them
// in step and applied them again on every pass (the ConfigMap once the
// write memo forgot it), after every restart and resync.
func TestAChartStoredOtherwiseThanWrittenSettles(t *testing.T) {
	g := NewWithT(t)
	tgz := crmChartTgz(t, func(c *chart.Chart) {
		for name, data := range chartExtras {
			c.Templates = append(c.Templates, &chart.File{Name: name, Data: []byte(data)})
		}
		for name, data := range settlingExtras {
			c.Templates = append(c.Templates, &chart.File{Name: name, Data: []byte(data)})
		}
		for _, f := range c.Templates {
			if f.Name == "templates/redis.yaml" {
				f.Data = replaceOnce(t, f.Data, "  volumeClaimTemplates:\n    - metadata:",
					"  volumeClaimTemplates:\n    - apiVersion: v1\n      kind: PersistentVolumeClaim\n      metadata:")
			}
		}
	})
	var secretName string
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		secretName = p.Name + "-chart"
		p.Spec.Workload = nil
		p.Spec.Chart = &saasv1alpha1.ChartTemplate{SecretRef: &saasv1alpha1.ChartSecretRef{Name: secretName},
			Values: jsonValues(`{"report":{"enabled":true},"files":{"enabled":true}}`)}
		p.Spec.Plans = []saasv1alpha1.Plan{{SKUCode: "basic", Replicas: 1, Quota: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("10")}}}
	})
	g.Expect(k8sClient.Create(testContext(t), chartSecretFor(secretName, tgz))).To(Succeed())
	resolveChart(t, product.Name, chartrender.ArchiveFromBytes(tgz).Digest())
	tenant := newTenant(t, product, "basic", nil)
	tenant = eventuallyTenant(t, tenant.Name, provisioned)
	makeChartCurrent(t, tenant.Status.Namespace, tenant.Spec.InstanceID)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))
	ns, id := tenant.Status.Namespace, tenant.Spec.InstanceID

	// What the API server stores, read as JSON: a claim template with its
	// apiVersion and kind (its conversion sets them on every read), and
	// the bytes the base64 stood for. The cache, which reads StatefulSets
	// as protobuf, holds the claim template without them.
	sts := &unstructured.Unstructured{}
	sts.SetAPIVersion("apps/v1")
	sts.SetKind("StatefulSet")
	key := client.ObjectKey{Namespace: ns, Name: id + "-redis"}
	g.Expect(k8sClient.Get(testContext(t), key, sts)).To(Succeed())
	claims, _, _ := unstructured.NestedSlice(sts.Object, "spec", "volumeClaimTemplates")
	g.Expect(claims).To(ConsistOf(And(HaveKeyWithValue("apiVersion", "v1"), HaveKeyWithValue("kind", "PersistentVolumeClaim"))), "the stored claim template")
	cached := &appsv1.StatefulSet{}
	g.Expect(cachedClient.Get(testContext(t), key, cached)).To(Succeed())
	g.Expect(cached.Spec.VolumeClaimTemplates).To(HaveLen(1))
	g.Expect(cached.Spec.VolumeClaimTemplates[0].TypeMeta).To(BeZero(), "the cached claim template")
	secret := &corev1.Secret{}
	g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: id + "-creds"}, secret)).To(Succeed())
	g.Expect(secret.Data).To(Equal(map[string][]byte{"password": []byte("hunter2"), "long": []byte(longSecretValue), "plain": []byte("hunter2")}))

	// Two passes of a reconciler like the manager's (a new one: its write
	// memo is empty, as after a restart), through a client that notes
	// every write to the tenant's namespace.
	writes := &namespaceWriteCounter{Client: cachedClient, namespace: ns}
	r := tenantReconcilerLikeSetup(t, writes)
	for range 2 {
		_, err := r.Reconcile(testContext(t), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(tenant)})
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(writes.noted()).To(BeEmpty(), "writes to the objects of a tenant in step")
}
