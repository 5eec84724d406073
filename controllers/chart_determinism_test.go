package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/chartrender"
)

// Tests of a chart that renders differently each time for the same tenant:
// a value made up at render time, which the render cache hides until the
// controllers restart, fail over or evict it, and then changes on every
// tenant at once.

// randomPasswordTemplate is a database password Secret as Helm charts
// commonly make it: a new password on each render, kept by `helm upgrade`
// only through `lookup`, which finds nothing in kooper.
const randomPasswordTemplate = `apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-db
stringData:
  password: {{ randAlphaNum 20 | quote }}
`

// withRandomPassword adds randomPasswordTemplate to the test chart.
var withRandomPassword = withTemplates(map[string]string{"templates/db-secret.yaml": randomPasswordTemplate})

// A new product whose chart makes up a password: the chart is not taken,
// the message names the object and the field and what to use instead, and
// no tenant is provisioned until a chart renders the same each time.
func TestAChartWithARandomSecretIsNotReady(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	product, digest := newEditedChartProduct(t, withRandomPassword, nil)

	cond := expectCondition(t, product, saasv1alpha1.ChartReadyCondition, metav1.ConditionFalse, saasv1alpha1.ChartNotDeterministicReason)
	g.Expect(cond.Message).To(HavePrefix("Chart crm 1.2.0 (" + digest + ") from Secret kooper-test/" + product.Name + "-chart (key chart.tgz) "))
	g.Expect(cond.Message).To(ContainSubstring("renders differently each time for the example tenant on plan basic: Secret/i-example-db, field stringData.password"))
	g.Expect(cond.Message).To(ContainSubstring(".Values.kooper.credentialsSecretName"))
	g.Expect(cond.Message).To(HaveSuffix("no tenant is provisioned until then"))
	expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.ChartNotDeterministicReason)
	got := &saasv1alpha1.SaaSProduct{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(product), got)).To(Succeed())
	g.Expect(got.Status.Chart).To(BeNil(), "a chart that would change every tenant at each fresh render is not recorded")

	tenant := newTenant(t, product, "basic", nil)
	waiting := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ProvisionedCondition, metav1.ConditionFalse, saasv1alpha1.ProgressingReason))
	g.Expect(apimeta.FindStatusCondition(waiting.Status.Conditions, saasv1alpha1.ProvisionedCondition).Message).
		To(ContainSubstring("Secret/i-example-db, field stringData.password"), "the tenant says why it waits")
	g.Expect(waiting.Status.Namespace).To(BeEmpty(), "nothing is made for the tenant")

	// The chart without the made-up password: taken, and the tenant runs.
	fixed := crmChartTgz(t, nil)
	patchSecretData(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: product.Name + "-chart"}}, "chart.tgz", fixed)
	expectChartReady(t, product, metav1.ConditionTrue, saasv1alpha1.SucceededReason, chartrender.ArchiveFromBytes(fixed).Digest())
	eventuallyTenant(t, tenant.Name, provisioned)
}

// A product whose tenants run a chart that passed, given one that makes up
// a password: the new chart is not recorded, and the tenants, new ones
// too, keep the one before, as the message says; none gets the Secret.
func TestARandomChartReplacingOneThatPassedLeavesTheTenantsOnIt(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	product, digest := newEditedChartProduct(t, nil, nil)
	expectCondition(t, product, saasv1alpha1.ChartReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
	running := eventuallyTenant(t, newTenant(t, product, "basic", nil).Name, provisioned)

	random := crmChartTgz(t, withRandomPassword)
	patchSecretData(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: product.Name + "-chart"}}, "chart.tgz", random)
	cond := expectChartReady(t, product, metav1.ConditionFalse, saasv1alpha1.ChartNotDeterministicReason, chartrender.ArchiveFromBytes(random).Digest())
	g.Expect(cond.Message).To(HaveSuffix("until then every tenant, a new one too, keeps chart " + digest + ", the last that passed"))
	got := &saasv1alpha1.SaaSProduct{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(product), got)).To(Succeed())
	g.Expect(got.Status.Chart).To(HaveValue(HaveField("Digest", digest)))

	late := eventuallyTenant(t, newTenant(t, product, "basic", nil).Name, provisioned)
	for _, tenant := range []*saasv1alpha1.SaaSTenant{running, late} {
		err := k8sClient.Get(ctx, client.ObjectKey{Namespace: tenant.Status.Namespace, Name: tenant.Spec.InstanceID + "-db"}, &corev1.Secret{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "tenant %s has no Secret of the refused chart: %v", tenant.Name, err)
	}
}

// What ChartReady says the tenants run meanwhile follows status.chart:
// nothing before a chart passed, the last that passed, or this very chart
// when it was recorded before kooper checked for this (an upgrade).
func TestNondeterministicMeanwhileFollowsTheRecordedChart(t *testing.T) {
	g := NewWithT(t)
	const checked, before = "sha256:0a", "sha256:0b"
	recording := func(digest string) *saasv1alpha1.SaaSProduct {
		p := &saasv1alpha1.SaaSProduct{}
		if digest != "" {
			p.Status.Chart = &saasv1alpha1.ResolvedChart{Digest: digest}
		}
		return p
	}
	g.Expect(nondeterministicMeanwhile(recording(""), checked)).To(Equal("no tenant is provisioned until then"))
	g.Expect(nondeterministicMeanwhile(recording(before), checked)).
		To(Equal("until then every tenant, a new one too, keeps chart sha256:0b, the last that passed"))
	g.Expect(nondeterministicMeanwhile(recording(checked), checked)).
		To(HavePrefix("its tenants still run it, as status.chart recorded it before kooper checked for this"))
}
