package controllers

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/chartrender"
)

// Tests of text that is valid on one side only: Chinese text cut in bytes,
// and keys saved in an encoding the marketplace does not sign with.

// chineseFailureTemplate fails the render, when a plan sets pad, with pad
// and then 600 bytes of Chinese: past maxQuotedRenderError, so the failure
// quoted is cut, and with pads of 0, 1 and 2 bytes one cut at least falls
// where a byte cut would split a character.
const chineseFailureTemplate = `{{- if hasKey .Values "pad" }}{{ fail (print .Values.pad (repeat 200 "请")) }}{{ end }}`

// A plan whose render fails with a Chinese message is named in ChartReady
// and warned of once: ChartReady's message must stay valid UTF-8, or the
// API server stores U+FFFD where the cut split a character, the message
// read back never equals the one computed again, and every reconcile of
// the product sends the ChartRenderFailed Warning again.
func TestAChartRenderFailureInChineseIsWarnedOnce(t *testing.T) {
	g := NewWithT(t)
	archive := chartrender.ArchiveFromBytes(crmChartTgz(t, withTemplates(map[string]string{"templates/chinese.yaml": chineseFailureTemplate})))
	product := &saasv1alpha1.SaaSProduct{
		ObjectMeta: metav1.ObjectMeta{Name: "chinese-failure"},
		Spec: saasv1alpha1.SaaSProductSpec{
			Chart: &saasv1alpha1.ChartTemplate{SecretRef: &saasv1alpha1.ChartSecretRef{Name: "chinese-failure-chart"}},
			Plans: []saasv1alpha1.Plan{{SKUCode: "basic", Replicas: 1}},
		},
	}
	for _, pad := range []string{"", "x", "xx"} {
		product.Spec.Plans = append(product.Spec.Plans, saasv1alpha1.Plan{SKUCode: fmt.Sprintf("pad%d", len(pad)), Replicas: 1,
			Values: jsonValues(fmt.Sprintf(`{"pad":%q}`, pad))})
	}
	recorder := events.NewFakeRecorder(10)
	r := &SaaSProductReconciler{Recorder: recorder, Charts: &Charts{}}

	check := r.exampleRenders(testContext(t), product, archive)
	g.Expect(check.failures).To(HaveLen(3))
	g.Expect(check.failures[0]).To(ContainSubstring(strings.Repeat("请", 100)))
	cond, passed := chartVerdict("Chart crm 1.2.0 ("+archive.Digest()+") from Secret chinese-failure-chart", check)
	g.Expect(passed).To(BeTrue())

	product.Status.Conditions = []metav1.Condition{storedAsJSON(t, cond)}
	r.warnRenderFailures(product, cond, check.failures)
	g.Expect(recorder.Events).To(BeEmpty(), "a failure already told in ChartReady was warned of again")
	g.Expect(utf8.ValidString(cond.Message)).To(BeTrue(), "ChartReady's message is not valid UTF-8: %q", cond.Message)
}

// storedAsJSON is cond as the API server stores it and a read gives it back:
// through JSON, where invalid UTF-8 becomes U+FFFD.
func storedAsJSON(t *testing.T, cond metav1.Condition) metav1.Condition {
	t.Helper()
	data, err := json.Marshal(cond)
	if err != nil {
		t.Fatal(err)
	}
	var stored metav1.Condition
	if err := json.Unmarshal(data, &stored); err != nil {
		t.Fatal(err)
	}
	return stored
}

// utf16LE is s (ASCII) as Windows PowerShell 5's Out-File writes it: a
// UTF-16LE byte order mark, then two bytes a character.
func utf16LE(s string) []byte {
	out := []byte{0xFF, 0xFE}
	for i := 0; i < len(s); i++ {
		out = append(out, s[i], 0)
	}
	return out
}

// A keys Secret made from files saved as UTF-16 would sign every call
// wrongly (000001) while KeysAvailable said True: it is False, naming the
// key and how to mend it. The same key saved as UTF-8 with a byte order
// mark (PowerShell's Set-Content -Encoding UTF8) is usable: the mark is
// dropped.
func TestAKeysSecretFromAUTF16FileLeavesKeysUnavailable(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	product := newProduct(t, "utf16-keys")
	data := map[string][]byte{}
	for name, value := range completeKeys {
		data[name] = []byte(value)
	}
	data[saasv1alpha1.SecretAccessKeySecretKey] = utf16LE(completeKeys[saasv1alpha1.SecretAccessKeySecretKey] + "\r\n")
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: "utf16-keys"}, Data: data}
	g.Expect(k8sClient.Create(ctx, secret)).To(Succeed())

	cond := expectCondition(t, product, saasv1alpha1.KeysAvailableCondition, metav1.ConditionFalse, saasv1alpha1.KeysSecretIncompleteReason)
	g.Expect(cond.Message).To(HavePrefix("Secret kooper-test/utf16-keys: secretAccessKey is not usable: it holds a byte that is not printable ASCII"))
	g.Expect(cond.Message).To(ContainSubstring("without BOM"))
	g.Expect(cond.Message).NotTo(ContainSubstring("MFyf"), "a key value leaked into status")

	patch := client.MergeFrom(secret.DeepCopy())
	secret.Data[saasv1alpha1.SecretAccessKeySecretKey] = []byte("\uFEFF" + completeKeys[saasv1alpha1.SecretAccessKeySecretKey] + "\r\n")
	g.Expect(k8sClient.Patch(ctx, secret, patch)).To(Succeed())
	expectCondition(t, product, saasv1alpha1.KeysAvailableCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
}
