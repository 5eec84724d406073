package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The API server refuses an events.k8s.io/v1 Event whose note is over 1024
// bytes, and the recorder then drops it for good. The products ConfigMap
// joins the reason of every refused entry into one note; with many long
// ones it must still be seen, cut.
func TestAnEventWithALongNoteIsStoredCut(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	// Each entry is refused with a message of about 230 bytes that quotes
	// its 120-byte Chinese kind: 22 entries make a note of about 5 KB, which
	// a cut at a fixed byte would likely split mid-character.
	kind := strings.Repeat("产品", 20)
	data := map[string]string{}
	for i := range 22 {
		data[fmt.Sprintf("eventnote-%02d.yaml", i)] = "apiVersion: saas.kooper.io/v1alpha1\nkind: " + kind + "\nmetadata:\n  name: eventnote\n"
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: productsConfigMap}, Data: data}
	g.Expect(k8sClient.Create(ctx, cm)).To(Succeed())
	t.Cleanup(func() { deleteConfigMapAndItsEvents(t, cm) })

	var stored *eventsv1.Event
	g.Eventually(func(g Gomega) {
		stored = findEvent(g, cm, InvalidProductReason)
		g.Expect(stored).NotTo(BeNil(), "no InvalidProduct Event stored for the ConfigMap")
	}).Should(Succeed())
	g.Expect(len(stored.Note)).To(BeNumerically("<=", 1024))
	g.Expect(utf8.ValidString(stored.Note)).To(BeTrue(), "note %q", stored.Note)
	g.Expect(stored.Note).To(HavePrefix("Not applied: eventnote-00.yaml: kind is \"" + kind))
	g.Expect(stored.Note).To(HaveSuffix("…"))
}

// findEvent returns the Event of the reason about this very object (its
// UID: earlier tests leave Events about objects of the same name), or nil.
func findEvent(g Gomega, obj client.Object, reason string) *eventsv1.Event {
	list := &eventsv1.EventList{}
	g.Expect(k8sClient.List(context.Background(), list, client.InNamespace(obj.GetNamespace()))).To(Succeed())
	for i, e := range list.Items {
		if e.Regarding.UID == obj.GetUID() && e.Reason == reason {
			return &list.Items[i]
		}
	}
	return nil
}

// deleteConfigMapAndItsEvents deletes cm and then the Events about it:
// other tests of the products ConfigMap look for an InvalidProduct Event by
// the ConfigMap's name, and must not find this test's.
func deleteConfigMapAndItsEvents(t *testing.T, cm *corev1.ConfigMap) {
	ctx := context.Background()
	_ = k8sClient.Delete(ctx, cm)
	list := &eventsv1.EventList{}
	if err := k8sClient.List(ctx, list, client.InNamespace(cm.Namespace)); err != nil {
		t.Errorf("listing Events to clean up: %v", err)
		return
	}
	for i := range list.Items {
		if list.Items[i].Regarding.UID == cm.UID {
			_ = k8sClient.Delete(ctx, &list.Items[i])
		}
	}
}
