package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// Table tests of docs/lifecycle.md rules E and P on the pure functions.

func day(d int) *time.Time {
	t := time.Date(2029, 1, d, 0, 0, 0, 0, time.UTC)
	return &t
}

func created(h int) time.Time { return time.Date(2026, 1, 1, h, 0, 0, 0, time.UTC) }

var (
	purchase = saasv1alpha1.AppliedOrder{OrderID: "P", Activity: saasv1alpha1.ActivityNewInstance}
)

func renewal(id string, end *time.Time) saasv1alpha1.AppliedOrder {
	return appliedOrder(id, saasv1alpha1.ActivityRefreshInstance, saasv1alpha1.SceneRenewal, end)
}

func cut(id string, end *time.Time) saasv1alpha1.AppliedOrder {
	return appliedOrder(id, saasv1alpha1.ActivityRefreshInstance, saasv1alpha1.SceneUnsubscribeRenewalPeriod, end)
}

func upgrade(id string) saasv1alpha1.AppliedOrder {
	return appliedOrder(id, saasv1alpha1.ActivityUpgradeInstance, "", nil)
}

func TestDerivedExpiry(t *testing.T) {
	base := &metav1.Time{Time: *day(1)}
	for _, tc := range []struct {
		name   string
		orders []saasv1alpha1.AppliedOrder
		times  map[string]time.Time
		want   *time.Time
	}{
		{"the purchase alone: its order's expiry", []saasv1alpha1.AppliedOrder{purchase}, nil, day(1)},
		{"renewals in order", []saasv1alpha1.AppliedOrder{purchase, renewal("A", day(10)), renewal("B", day(20))}, nil, day(20)},
		{"a late retry of an older renewal", []saasv1alpha1.AppliedOrder{purchase, renewal("B", day(20)), renewal("A", day(10))}, nil, day(20)},
		{"a renewal supersedes the purchase's expiry", []saasv1alpha1.AppliedOrder{purchase, renewal("A", day(1))}, nil, day(1)},
		{"a newer cut applies", []saasv1alpha1.AppliedOrder{purchase, renewal("A", day(20)), cut("C", day(15))},
			map[string]time.Time{"A": created(1), "C": created(2)}, day(15)},
		{"an older cut arriving late is overtaken", []saasv1alpha1.AppliedOrder{purchase, renewal("A", day(20)), cut("C", day(15))},
			map[string]time.Time{"A": created(2), "C": created(1)}, day(20)},
		{"a renewal after a cut raises it again", []saasv1alpha1.AppliedOrder{purchase, renewal("A", day(20)), cut("C", day(15)), renewal("B", day(18))},
			map[string]time.Time{"A": created(1), "C": created(2), "B": created(3)}, day(18)},
		{"a cut without renewals cuts the purchase's expiry", []saasv1alpha1.AppliedOrder{purchase, cut("C", day(1))}, nil, day(1)},
		{"unknown times (debug orders): arrival order", []saasv1alpha1.AppliedOrder{purchase, cut("C", day(15)), renewal("A", day(20))}, nil, day(20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := derivedExpiry(base, tc.orders, tc.times)
			NewWithT(t).Expect(got.Time).To(Equal(*tc.want))
		})
	}
}

func TestNewestPlanOrder(t *testing.T) {
	for _, tc := range []struct {
		name   string
		orders []saasv1alpha1.AppliedOrder
		times  map[string]time.Time
		want   string
	}{
		{"the purchase alone", []saasv1alpha1.AppliedOrder{purchase}, nil, "P"},
		{"a plain renewal keeps the purchase", []saasv1alpha1.AppliedOrder{purchase, renewal("R", day(2))}, nil, "P"},
		{"one upgrade", []saasv1alpha1.AppliedOrder{purchase, upgrade("U")}, nil, "U"},
		{"the newer of two upgrades, arriving first", []saasv1alpha1.AppliedOrder{purchase, upgrade("NEW"), upgrade("OLD")},
			map[string]time.Time{"NEW": created(2), "OLD": created(1)}, "NEW"},
		{"a renewal change newer than an upgrade", []saasv1alpha1.AppliedOrder{purchase, upgrade("U"),
			appliedOrder("RC", saasv1alpha1.ActivityRefreshInstance, saasv1alpha1.SceneRenewalChange, day(3))},
			map[string]time.Time{"U": created(1), "RC": created(2)}, "RC"},
		{"unknown times: the last arrival", []saasv1alpha1.AppliedOrder{purchase, upgrade("A"), upgrade("B")}, nil, "B"},
		{"no orders: the object's own order", nil, nil, "SELF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(newestPlanOrder(tc.orders, "SELF", "SELF-1", tc.times).OrderID).To(Equal(tc.want))
		})
	}
}

func TestOrdersToTimeAreUsuallyNone(t *testing.T) {
	g := NewWithT(t)
	g.Expect(ordersToTime([]saasv1alpha1.AppliedOrder{purchase, renewal("A", day(2)), upgrade("U")})).To(BeEmpty())
	g.Expect(ordersToTime([]saasv1alpha1.AppliedOrder{purchase, upgrade("U"), upgrade("V")})).To(HaveLen(2))
	g.Expect(ordersToTime([]saasv1alpha1.AppliedOrder{purchase, renewal("A", day(2)), cut("C", day(1)), upgrade("U")})).To(HaveLen(2))
}
