package tenantobjects

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
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

// Current answers a Deployment or StatefulSet whose typed status shows it
// is not current without kstatus; that shortcut must never call one not
// current that kstatus calls current. Every combination of generations
// and counts up to three pods is tried against kstatus itself.
func TestCurrentsShortcutNeverDisagreesWithKstatus(t *testing.T) {
	checked, current := 0, 0
	eachWorkloadOfTheGrid(func(obj client.Object, gvk schema.GroupVersionKind) {
		checked++
		res, err := Status(obj, gvk)
		if err != nil || res.Status != status.CurrentStatus {
			return
		}
		current++
		if !Current(obj, gvk) {
			t.Fatalf("kstatus finds %s current, Current does not: %+v", gvk.Kind, obj)
		}
	})
	if current == 0 {
		t.Fatalf("none of %d objects was current: the grid tries nothing", checked)
	}
	t.Logf("%d objects, %d of them current by kstatus", checked, current)
}

// eachWorkloadOfTheGrid calls f with a Deployment and StatefulSets (each
// update strategy) for every combination of observed generation, replicas
// asked for, and pods (up to three) created, updated, ready and available.
func eachWorkloadOfTheGrid(f func(client.Object, schema.GroupVersionKind)) {
	deployment := appsv1.SchemeGroupVersion.WithKind("Deployment")
	statefulSet := appsv1.SchemeGroupVersion.WithKind("StatefulSet")
	specs := []*int32{nil, ptr.To[int32](0), ptr.To[int32](1), ptr.To[int32](3)}
	counts := []int32{0, 1, 2, 3}
	for _, observed := range []int64{0, 1, 2} {
		for _, spec := range specs {
			for _, replicas := range counts {
				for _, updated := range counts {
					for _, ready := range counts {
						for _, available := range counts {
							f(&appsv1.Deployment{
								ObjectMeta: metav1.ObjectMeta{Name: "app", Generation: 2},
								Spec:       appsv1.DeploymentSpec{Replicas: spec},
								Status: appsv1.DeploymentStatus{ObservedGeneration: observed, Replicas: replicas,
									UpdatedReplicas: updated, ReadyReplicas: ready, AvailableReplicas: available,
									Conditions: []appsv1.DeploymentCondition{
										{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue},
										{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"},
									}},
							}, deployment)
							for _, strategy := range statefulSetStrategies {
								f(&appsv1.StatefulSet{
									ObjectMeta: metav1.ObjectMeta{Name: "db", Generation: 2},
									Spec:       appsv1.StatefulSetSpec{Replicas: spec, UpdateStrategy: strategy},
									Status: appsv1.StatefulSetStatus{ObservedGeneration: observed, Replicas: replicas,
										UpdatedReplicas: updated, ReadyReplicas: ready, CurrentReplicas: available,
										CurrentRevision: "r1", UpdateRevision: "r1"},
								}, statefulSet)
							}
						}
					}
				}
			}
		}
	}
}

// statefulSetStrategies are the update strategies the grid tries: kstatus
// judges a StatefulSet updated OnDelete, or partitioned, by rules of their
// own.
var statefulSetStrategies = []appsv1.StatefulSetUpdateStrategy{
	{},
	{Type: appsv1.OnDeleteStatefulSetStrategyType},
	{Type: appsv1.RollingUpdateStatefulSetStrategyType, RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](1)}},
}

// What Current costs for an update of a rollout still under way, the
// common case of the tenant controller's workload events.
func BenchmarkCurrentOfADeploymentRollingOut(b *testing.B) {
	deployment := appsv1.SchemeGroupVersion.WithKind("Deployment")
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "tenant", Generation: 1, Labels: map[string]string{"app": "web"}},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Template: corev1.PodTemplateSpec{
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}}}},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1},
	}
	b.ReportAllocs()
	for b.Loop() {
		if Current(d, deployment) {
			b.Fatal("a rollout under way is current")
		}
	}
}

// TestStatusSaysWhyADeploymentsPodsAreNotCreated: a Deployment whose pods
// a Pod Security level or an admission policy refuses (kube-controller-
// manager's ReplicaFailure condition, FailedCreate) was judged "Replicas:
// 0/1" and nothing more, so a tenant's Available never said why nothing
// ran. The condition's reason and message now follow kstatus' message;
// a Deployment that is current says nothing of an old failure.
func TestStatusSaysWhyADeploymentsPodsAreNotCreated(t *testing.T) {
	deployment := appsv1.SchemeGroupVersion.WithKind("Deployment")
	refused := `pods "app-5d8f" is forbidden: violates PodSecurity "restricted:latest": seccompProfile (pod or container "app" must set securityContext.seccompProfile.type)`
	failing := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Generation: 1},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](1)},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Conditions: []appsv1.DeploymentCondition{
			{Type: appsv1.DeploymentReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate", Message: refused},
			{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "ReplicaSetUpdated"},
		}},
	}
	res, err := Status(failing, deployment)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status == status.CurrentStatus || !strings.Contains(res.Message, "FailedCreate: "+refused) {
		t.Fatalf("Status = %s (%q); want not current, naming the refusal", res.Status, res.Message)
	}

	current := failing.DeepCopy()
	current.Status.Replicas, current.Status.UpdatedReplicas, current.Status.ReadyReplicas, current.Status.AvailableReplicas = 1, 1, 1, 1
	current.Status.Conditions = append(current.Status.Conditions,
		appsv1.DeploymentCondition{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue})
	current.Status.Conditions[1].Reason = "NewReplicaSetAvailable"
	if res, err = Status(current, deployment); err != nil || res.Status != status.CurrentStatus || strings.Contains(res.Message, "FailedCreate") {
		t.Fatalf("Status = %v (%q), %v; want current, without the failure", res.Status, res.Message, err)
	}
}
