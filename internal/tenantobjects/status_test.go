package tenantobjects

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// A Deployment read from a cache has no kind of its own; Status judges it
// by the Deployment's rules all the same: rolled out is Current, a pod
// still coming is InProgress.
func TestStatusJudgesACachedObjectByItsKind(t *testing.T) {
	deployment := appsv1.SchemeGroupVersion.WithKind("Deployment")
	coming := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Generation: 1},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](1)},
		Status:     appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1},
	}
	rolledOut := coming.DeepCopy()
	rolledOut.Status.ReadyReplicas, rolledOut.Status.AvailableReplicas = 1, 1
	rolledOut.Status.Conditions = []appsv1.DeploymentCondition{
		{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue},
		{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"},
	}
	for _, tc := range []struct {
		name string
		obj  *appsv1.Deployment
		want status.Status
	}{
		{"rolled out", rolledOut, status.CurrentStatus},
		{"a pod still coming", coming, status.InProgressStatus},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Status(tc.obj, deployment)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.want {
				t.Fatalf("Status = %s (%s); want %s", res.Status, res.Message, tc.want)
			}
			if got := Current(tc.obj, deployment); got != (tc.want == status.CurrentStatus) {
				t.Fatalf("Current = %v", got)
			}
		})
	}
	if Current(nil, deployment) {
		t.Fatal("Current(nil) = true")
	}
}
