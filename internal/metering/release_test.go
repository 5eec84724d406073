package metering

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// TestEndOfMeteringIsTheReleaseNotWhenKooperSawIt: metering ends at the
// release order's receivedTime, or the deletion, whichever came first;
// never before the last segment or the cursor, never after now; now when
// neither is stored.
func TestEndOfMeteringIsTheReleaseNotWhenKooperSawIt(t *testing.T) {
	release := func(d time.Duration) saasv1alpha1.AppliedOrder {
		return saasv1alpha1.AppliedOrder{OrderID: "CS-REL", Activity: saasv1alpha1.ActivityReleaseInstance, ReceivedTime: *at(d)}
	}
	renewal := saasv1alpha1.AppliedOrder{OrderID: "CS-REN", Activity: saasv1alpha1.ActivityRefreshInstance, ReceivedTime: *at(time.Minute)}
	since := saasv1alpha1.TenantMetering{Since: *at(0)}
	withSegment := saasv1alpha1.TenantMetering{Since: *at(0), Segments: []saasv1alpha1.UsageSegment{
		{State: saasv1alpha1.StateActive, Start: *at(0)}, {State: saasv1alpha1.StateFrozen, Start: *at(3 * time.Hour)},
	}}
	pushed := saasv1alpha1.TenantMetering{Since: *at(0), PushedUntil: at(4 * time.Hour)}
	now := h0.Add(150 * time.Minute) // 12:30, when the controllers are back
	tests := []struct {
		name    string
		state   saasv1alpha1.SubscriptionState
		orders  []saasv1alpha1.AppliedOrder
		deleted time.Duration // 0: not deleted
		m       saasv1alpha1.TenantMetering
		now     time.Time
		want    time.Time
	}{
		{"released by an order at 10:05", saasv1alpha1.StateReleased, []saasv1alpha1.AppliedOrder{renewal, release(5 * time.Minute)}, 0, since, now, h0.Add(5 * time.Minute)},
		{"the earliest of two release orders", saasv1alpha1.StateReleased, []saasv1alpha1.AppliedOrder{release(50 * time.Minute), release(5 * time.Minute)}, 0, since, now, h0.Add(5 * time.Minute)},
		{"released without an order: now", saasv1alpha1.StateReleased, []saasv1alpha1.AppliedOrder{renewal}, 0, since, now, now},
		{"deleted by hand at 11:10", saasv1alpha1.StateActive, nil, 70 * time.Minute, since, now, h0.Add(70 * time.Minute)},
		{"released by an order, deleted later: the release", saasv1alpha1.StateReleased, []saasv1alpha1.AppliedOrder{release(5 * time.Minute)}, 70 * time.Minute, since, now, h0.Add(5 * time.Minute)},
		{"released without an order, then deleted: the deletion", saasv1alpha1.StateReleased, nil, 70 * time.Minute, since, now, h0.Add(70 * time.Minute)},
		{"a release order of a tenant not released is no release", saasv1alpha1.StateActive, []saasv1alpha1.AppliedOrder{release(5 * time.Minute)}, 70 * time.Minute, since, now, h0.Add(70 * time.Minute)},
		{"not before the last segment's start", saasv1alpha1.StateReleased, []saasv1alpha1.AppliedOrder{release(5 * time.Minute)}, 0, withSegment, h0.Add(5 * time.Hour), h0.Add(3 * time.Hour)},
		{"not before the hours pushed", saasv1alpha1.StateReleased, []saasv1alpha1.AppliedOrder{release(5 * time.Minute)}, 0, pushed, h0.Add(5 * time.Hour), h0.Add(4 * time.Hour)},
		{"not after now (a clock behind the receiver's)", saasv1alpha1.StateReleased, []saasv1alpha1.AppliedOrder{release(3 * time.Hour)}, 0, since, now, now},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			tenant := &saasv1alpha1.SaaSTenant{Spec: saasv1alpha1.SaaSTenantSpec{State: tt.state, Orders: tt.orders}}
			if tt.deleted != 0 {
				tenant.DeletionTimestamp = at(tt.deleted)
			}
			g.Expect(EndOfMetering(tenant, &tt.m, tt.now)).To(BeTemporally("==", tt.want))
		})
	}
}
