package tenantobjects

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Status is kstatus' judgement (the library Flux and kpt use) of obj, a
// typed object of kind gvk as read back from the API server or a cache:
// objects from a cache carry no kind of their own, and kstatus judges a
// Deployment, StatefulSet, Job or claim by rules of its kind. It fails
// when obj does not convert or kstatus cannot read it. Only what kstatus
// reads is converted (kstatusView): obj is left as it is, and may be a
// cache's own copy.
func Status(obj client.Object, gvk schema.GroupVersionKind) (*status.Result, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(kstatusView(obj))
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvk)
	res, err := status.Compute(u)
	if err == nil && res.Status != status.CurrentStatus {
		res.Message += replicaFailure(obj)
	}
	return res, err
}

// replicaFailure is "; " and the message of a Deployment's ReplicaFailure
// condition, when True: why its ReplicaSet cannot create pods (a Pod
// Security level or an admission policy refusing them, a quota exceeded),
// which kstatus leaves out of its message ("Replicas: 0/1"), so that a
// tenant's Available says why nothing runs. "" for anything else.
func replicaFailure(obj client.Object) string {
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		return ""
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue {
			return "; " + c.Reason + ": " + c.Message
		}
	}
	return ""
}

// Current reports whether Status finds obj current; false when obj is nil
// or Status fails. A Deployment or StatefulSet whose typed status already
// shows it is not is answered without Status (rolledOutSoFar), whose
// conversion to unstructured is most of its cost: most updates of a
// rollout leave the workload not current.
func Current(obj client.Object, gvk schema.GroupVersionKind) bool {
	if obj == nil || !rolledOutSoFar(obj) {
		return false
	}
	res, err := Status(obj, gvk)
	return err == nil && res.Status == status.CurrentStatus
}

// rolledOutSoFar is false when obj's typed status shows, by kstatus' own
// rules for its kind, that it is not current: its controller reported an
// older generation than the latest, or it has fewer pods, updated pods or
// available (ready, for a StatefulSet) pods than it asks for, or pods
// beyond them. It is true otherwise, and for every other kind: kstatus
// decides (an unreported generation, 0, is left to it too: kstatus does
// not hold it against a StatefulSet; and so is a StatefulSet updated
// OnDelete, which kstatus finds current whatever its pods).
func rolledOutSoFar(obj client.Object) bool {
	seen := func(generation, observed int64) bool { return observed == 0 || observed == generation }
	switch o := obj.(type) {
	case *appsv1.Deployment:
		want, st := replicasOrOne(o.Spec.Replicas), o.Status
		return seen(o.Generation, st.ObservedGeneration) && st.Replicas == want &&
			st.UpdatedReplicas >= want && st.AvailableReplicas >= st.UpdatedReplicas
	case *appsv1.StatefulSet:
		if o.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
			return true
		}
		want, st := replicasOrOne(o.Spec.Replicas), o.Status
		return seen(o.Generation, st.ObservedGeneration) && st.Replicas == want && st.ReadyReplicas >= want
	}
	return true
}

// replicasOrOne is a workload's asked replicas; the API server defaults an
// unset count to one, as kstatus does.
func replicasOrOne(replicas *int32) int32 {
	if replicas == nil {
		return 1
	}
	return *replicas
}

// kstatusView is a shallow copy of obj holding what kstatus reads of any
// kind (the generation, the deletion time, the spec's counts and strategy,
// the status), without what it never reads and costs most to convert:
// names, labels, annotations, and the pod and claim templates of
// workloads. A pass of a tenant judges its workloads each time, and a
// Deployment's template is most of it. TestKstatusJudgesTheViewAsTheWhole
// holds the two to the same judgement.
func kstatusView(obj client.Object) client.Object {
	meta := metav1.ObjectMeta{Generation: obj.GetGeneration(), DeletionTimestamp: obj.GetDeletionTimestamp()}
	switch o := obj.(type) {
	case *appsv1.Deployment:
		v := *o
		v.ObjectMeta, v.Spec.Template = meta, corev1.PodTemplateSpec{}
		return &v
	case *appsv1.StatefulSet:
		v := *o
		v.ObjectMeta, v.Spec.Template, v.Spec.VolumeClaimTemplates = meta, corev1.PodTemplateSpec{}, nil
		return &v
	case *batchv1.Job:
		v := *o
		v.ObjectMeta, v.Spec.Template = meta, corev1.PodTemplateSpec{}
		return &v
	case *batchv1.CronJob:
		v := *o
		v.ObjectMeta, v.Spec.JobTemplate = meta, batchv1.JobTemplateSpec{}
		return &v
	}
	return obj
}
