package tenantobjects

import (
	corev1 "k8s.io/api/core/v1"
)

// QuotaDuringChange is the quota hard limits to apply while pods admitted
// under inForce (the quota the tenant namespace holds) may still run
// beside the pods of plan (a plan change, or a plan's resources edited,
// not yet rolled out): each of plan's entries at the larger of its value
// and inForce's. A Deployment's rolling update with maxUnavailable 0
// removes no old pod before a new one is ready, so the old pods' usage
// stays counted; a quota lowered under it would refuse the new pod for
// ever. An entry inForce does not bound is left out (no bound is the
// larger): the old pods were admitted without it, and may already hold
// more than plan allows. An entry only inForce has is left out too, as
// plan sets no bound there. Neither list is modified.
func QuotaDuringChange(inForce, plan corev1.ResourceList) corev1.ResourceList {
	hard := corev1.ResourceList{}
	for name, want := range plan {
		kept, bounded := inForce[name]
		switch {
		case !bounded:
		case kept.Cmp(want) > 0:
			hard[name] = kept.DeepCopy()
		default:
			hard[name] = want.DeepCopy()
		}
	}
	return hard
}

// QuotaAbove reports whether inForce lets a namespace hold more than plan
// in some entry of plan's: a larger value, or none at all. The tenant's
// quota is then narrowed to plan's once its workload is available on the
// plan (QuotaDuringChange kept it so).
func QuotaAbove(inForce, plan corev1.ResourceList) bool {
	for name, want := range plan {
		kept, bounded := inForce[name]
		if !bounded || kept.Cmp(want) > 0 {
			return true
		}
	}
	return false
}
