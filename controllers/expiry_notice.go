package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// Expiry notices (issue 30): before a tenant's expireTime, at each of its
// product's lifecycle.expiry.noticeSeconds, and during the expiry safety
// net's grace period, the tenant gets the ExpiringSoon condition, a Warning
// Event and the kooper-notice ConfigMap in its namespace.

// expiryStage is where a tenant stands against its status.expireTime.
type expiryStage int

const (
	// stageNone: no expiry, or not Active (frozen by the marketplace,
	// released), or being deleted.
	stageNone expiryStage = iota
	// stageBefore: Active, before expireTime.
	stageBefore
	// stageGrace: Active, past expireTime, within the safety net's grace
	// period (not yet Expired).
	stageGrace
	// stageExpired: Active and Expired: the grace period is over.
	stageExpired
)

// tenantExpiryStage is the one definition of "expiring" that
// kooper_tenants_expiring and the ExpiringSoon condition share: the
// tenant's stage at now and the time left to its status.expireTime
// (negative once past it).
func tenantExpiryStage(t *saasv1alpha1.SaaSTenant, now time.Time) (expiryStage, time.Duration) {
	expiry := t.Status.ExpireTime
	// A package's expiry ends its quota, not a service: no notice, not
	// counted as expiring (docs/packages.md).
	if t.Spec.State != saasv1alpha1.StateActive || expiry == nil || !t.DeletionTimestamp.IsZero() || t.Status.Package != nil {
		return stageNone, 0
	}
	left := expiry.Sub(now)
	switch {
	case left > 0:
		return stageBefore, left
	case apimeta.IsStatusConditionTrue(t.Status.Conditions, saasv1alpha1.ExpiredCondition):
		return stageExpired, left
	default:
		return stageGrace, left
	}
}

// noticeThreshold finds, for left > 0 before expireTime, the notice
// threshold in force (thresholds in seconds): the smallest that is at
// least left, 0 when none is; and how long until the next one is crossed,
// or expireTime itself when none is left: when the reconciler must run
// again.
func noticeThreshold(thresholds []int32, left time.Duration) (crossed int32, next time.Duration) {
	next = left
	for _, th := range thresholds {
		d := time.Duration(th) * time.Second
		switch {
		case d >= left && (crossed == 0 || th < crossed):
			crossed = th
		case d < left && left-d < next:
			next = left - d
		}
	}
	return crossed, next
}

// lifecycleOf is the lifecycle policy a tenant recorded, or the defaults.
func lifecycleOf(t *saasv1alpha1.SaaSTenant) *saasv1alpha1.LifecyclePolicy {
	if t.Status.Lifecycle != nil {
		return t.Status.Lifecycle
	}
	return saasv1alpha1.DefaultLifecyclePolicy()
}

// desiredNotice is the expiry notice due at now, nil when none is, and
// when the next notice threshold is crossed (0: no threshold ahead; the
// end of the grace period is applyExpiry's).
func desiredNotice(t *saasv1alpha1.SaaSTenant, policy *saasv1alpha1.ExpiryPolicy, now time.Time) (*saasv1alpha1.ExpiryNotice, time.Duration) {
	stage, left := tenantExpiryStage(t, now)
	switch stage {
	case stageBefore:
		crossed, next := noticeThreshold(policy.GetNoticeSeconds(), left)
		if crossed == 0 {
			return nil, next
		}
		return &saasv1alpha1.ExpiryNotice{Stage: saasv1alpha1.ExpiryStageExpiring, ExpireTime: *t.Status.ExpireTime, ThresholdSeconds: crossed}, next
	case stageGrace:
		return &saasv1alpha1.ExpiryNotice{Stage: saasv1alpha1.ExpiryStageGrace, ExpireTime: *t.Status.ExpireTime}, 0
	case stageExpired:
		return &saasv1alpha1.ExpiryNotice{Stage: saasv1alpha1.ExpiryStageExpired, ExpireTime: *t.Status.ExpireTime}, 0
	}
	return nil, 0
}

// setExpiringSoon is the one writer of a tenant's ExpiringSoon condition,
// from its status (expireTime, the Expired condition and the lifecycle
// policy it recorded) at now. A tenant never within a notice gets none, so
// the condition costs nothing to the tenants far from their expiry. The
// message gives the time left as of the last status write: it is kept as
// it is while nothing else in the status changes (refresh false), so the
// passing time alone never makes a write; refresh recomputes it.
func setExpiringSoon(t *saasv1alpha1.SaaSTenant, now time.Time, refresh bool) {
	stage, left := tenantExpiryStage(t, now)
	cond := apimeta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.ExpiringSoonCondition)
	var status metav1.ConditionStatus
	var reason, head, tail string
	switch stage {
	case stageNone:
		removeCondition(t, saasv1alpha1.ExpiringSoonCondition)
		return
	case stageBefore:
		policy := lifecycleOf(t).Expiry
		crossed, _ := noticeThreshold(policy.GetNoticeSeconds(), left)
		if crossed == 0 {
			status, reason = metav1.ConditionFalse, saasv1alpha1.NotExpiringReason
			tail = fmt.Sprintf("Expires at %s, further away than every notice threshold", rfc3339(t.Status.ExpireTime.Time))
			break
		}
		status, reason = metav1.ConditionTrue, saasv1alpha1.ExpiringSoonReason
		head = "Expires in " + formatLeft(left)
		tail = fmt.Sprintf(" (%s), within the %s notice", rfc3339(t.Status.ExpireTime.Time), formatLeft(time.Duration(crossed)*time.Second))
	case stageGrace:
		policy := lifecycleOf(t).Expiry
		end := t.Status.ExpireTime.Add(time.Duration(policy.GetGraceSeconds()) * time.Second)
		status, reason = metav1.ConditionTrue, saasv1alpha1.GracePeriodReason
		head = "Expired; the grace period ends in " + formatLeft(end.Sub(now))
		then := "frozen then unless renewed"
		if policy.Action == saasv1alpha1.ExpiryNone {
			then = "Expired then unless renewed"
		}
		tail = fmt.Sprintf(" (expired at %s, grace period until %s, %s)", rfc3339(t.Status.ExpireTime.Time), rfc3339(end), then)
	case stageExpired:
		status, reason = metav1.ConditionFalse, saasv1alpha1.ExpiredReason
		tail = fmt.Sprintf("Expired at %s; the grace period is over", rfc3339(t.Status.ExpireTime.Time))
	}
	if status == metav1.ConditionFalse && cond == nil {
		return // never noticed: nothing to clear
	}
	if !refresh && cond != nil && cond.Status == status && cond.Reason == reason && strings.HasSuffix(cond.Message, tail) {
		return
	}
	setCondition(t, saasv1alpha1.ExpiringSoonCondition, status, reason, head+tail)
}

// formatLeft writes a duration for people, to the minute: "6d 23h",
// "7d", "23h 59m", "45m", "under a minute".
func formatLeft(d time.Duration) string {
	d = d.Truncate(time.Minute)
	days, hours, minutes := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour), int(d%time.Hour/time.Minute)
	var parts []string
	switch {
	case days > 0:
		parts = append(parts, fmt.Sprintf("%dd", days))
		if hours > 0 {
			parts = append(parts, fmt.Sprintf("%dh", hours))
		}
	case hours > 0:
		parts = append(parts, fmt.Sprintf("%dh", hours))
		if minutes > 0 {
			parts = append(parts, fmt.Sprintf("%dm", minutes))
		}
	case minutes > 0:
		parts = append(parts, fmt.Sprintf("%dm", minutes))
	default:
		return "under a minute"
	}
	return strings.Join(parts, " ")
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// deliverNotice writes the expiry notice due (s.notice, decided by
// applyExpiry) into the tenant's namespace as the kooper-notice
// ConfigMap, or removes it when none is due, and records it in
// status.expiryNotice. It writes only when the notice changes: a
// threshold crossed, the grace period begun or over, a renewal. Tenant
// ConfigMaps are not cached, so the status, not a read, says what was
// delivered; a failed write leaves the status as it was, and is tried
// again. The pass that releases the tenant removes the ConfigMap whatever
// the status says: a notice written by a pass whose status write was then
// lost (a conflict, a crash) is recorded nowhere, and would outlive the
// release in the kept namespace.
func (r *SaaSTenantReconciler) deliverNotice(ctx context.Context, s *tenantState) outcome {
	t := s.tenant
	if t.Status.Namespace == "" || (apiequality.Semantic.DeepEqual(s.notice, t.Status.ExpiryNotice) && !releasing(t)) {
		return proceed()
	}
	if s.notice == nil {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: saasv1alpha1.NoticeConfigMapName, Namespace: t.Status.Namespace}}
		if err := r.Delete(ctx, cm); client.IgnoreNotFound(err) != nil {
			return failed(fmt.Errorf("failed to remove the expiry notice: %w", err))
		}
		t.Status.ExpiryNotice = nil
		return proceed()
	}
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(tenantobjects.NoticeConfigMap(t, t.Status.Namespace, s.notice))
	if err != nil {
		return failed(err)
	}
	u := &unstructured.Unstructured{Object: content}
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	if err := r.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(r.Options.FieldOwner), client.ForceOwnership); err != nil {
		return failed(fmt.Errorf("failed to write the expiry notice: %w", err))
	}
	t.Status.ExpiryNotice = s.notice.DeepCopy()
	return proceed()
}

// noticeEvent is the Warning Event of a notice newly delivered: one per
// threshold crossed per expireTime, and one for the grace period. The
// Expired stage has the Expired condition's own Event.
func noticeEvent(before, after *saasv1alpha1.ExpiryNotice) (reason string, ok bool) {
	if after == nil || apiequality.Semantic.DeepEqual(before, after) {
		return "", false
	}
	switch after.Stage {
	case saasv1alpha1.ExpiryStageExpiring:
		return saasv1alpha1.ExpiringSoonReason, true
	case saasv1alpha1.ExpiryStageGrace:
		return saasv1alpha1.GracePeriodReason, true
	}
	return "", false
}

// releasing reports whether this pass releases t: released by the
// marketplace, and not yet recorded as such.
func releasing(t *saasv1alpha1.SaaSTenant) bool {
	return t.Spec.State == saasv1alpha1.StateReleased && !apimeta.IsStatusConditionTrue(t.Status.Conditions, saasv1alpha1.ReleasedCondition)
}
