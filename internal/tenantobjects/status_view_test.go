package tenantobjects

import (
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Status converts only what kstatus reads (kstatusView); kstatus must
// judge that as it judges the whole object, in status and in message, for
// workloads in every state the grid and the cases below make, with the
// templates, names and annotations the view leaves out. The view leaves
// the object itself as it was.
func TestKstatusJudgesTheViewAsTheWhole(t *testing.T) {
	deployment := appsv1.SchemeGroupVersion.WithKind("Deployment")
	statefulSet := appsv1.SchemeGroupVersion.WithKind("StatefulSet")
	job := batchv1.SchemeGroupVersion.WithKind("Job")
	cronJob := batchv1.SchemeGroupVersion.WithKind("CronJob")
	template := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example.com/web:1.2.0"}}}}
	meta := func(name string, generation int64) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: "tenant-i-1", Generation: generation, Labels: map[string]string{"app": "web"},
			Annotations: map[string]string{"saas.kooper.io/last-applied-hash": "abc"}}
	}
	deleting := meta("web", 2)
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)}
	stuck := []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded"}}
	objects := []struct {
		obj client.Object
		gvk schema.GroupVersionKind
	}{
		{&appsv1.Deployment{ObjectMeta: deleting, Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Template: template}}, deployment},
		{&appsv1.Deployment{ObjectMeta: meta("web", 2), Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Template: template, ProgressDeadlineSeconds: ptr.To[int32](60)},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 1, Conditions: stuck}}, deployment},
		{&appsv1.StatefulSet{ObjectMeta: meta("redis", 1), Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1), Template: template,
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}, Spec: corev1.PersistentVolumeClaimSpec{
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}}},
			Status: appsv1.StatefulSetStatus{ObservedGeneration: 1, Replicas: 1, ReadyReplicas: 1, CurrentReplicas: 1, UpdatedReplicas: 1,
				CurrentRevision: "r1", UpdateRevision: "r1"}}, statefulSet},
		{&batchv1.Job{ObjectMeta: meta("migrate", 1), Spec: batchv1.JobSpec{Completions: ptr.To[int32](1), Parallelism: ptr.To[int32](1), Template: template}}, job},
		{&batchv1.Job{ObjectMeta: meta("migrate", 1), Spec: batchv1.JobSpec{Completions: ptr.To[int32](1), Template: template},
			Status: batchv1.JobStatus{StartTime: &metav1.Time{}, Active: 1}}, job},
		{&batchv1.Job{ObjectMeta: meta("migrate", 1), Spec: batchv1.JobSpec{Completions: ptr.To[int32](1), Template: template},
			Status: batchv1.JobStatus{StartTime: &metav1.Time{}, Succeeded: 1,
				Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}}, job},
		{&batchv1.Job{ObjectMeta: meta("migrate", 1), Spec: batchv1.JobSpec{Template: template},
			Status: batchv1.JobStatus{StartTime: &metav1.Time{}, Failed: 3,
				Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Message: "BackoffLimitExceeded"}}}}, job},
		{&batchv1.CronJob{ObjectMeta: meta("report", 1), Spec: batchv1.CronJobSpec{Schedule: "0 * * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: template}}}}, cronJob},
	}
	checked := 0
	check := func(obj client.Object, gvk schema.GroupVersionKind) {
		t.Helper()
		checked++
		before := obj.DeepCopyObject()
		whole := wholeStatus(t, obj, gvk)
		view, err := Status(obj, gvk)
		if err != nil {
			t.Fatal(err)
		}
		if view.Status != whole.Status || view.Message != whole.Message {
			t.Fatalf("%s %+v: the view is %s (%s), the whole %s (%s)", gvk.Kind, obj, view.Status, view.Message, whole.Status, whole.Message)
		}
		if !equalObjects(before, obj) {
			t.Fatalf("Status changed the %s it judged", gvk.Kind)
		}
	}
	for _, o := range objects {
		check(o.obj, o.gvk)
	}
	eachWorkloadOfTheGrid(func(obj client.Object, gvk schema.GroupVersionKind) {
		switch o := obj.(type) {
		case *appsv1.Deployment:
			o.ObjectMeta, o.Spec.Template = meta("web", o.Generation), template
		case *appsv1.StatefulSet:
			o.ObjectMeta, o.Spec.Template = meta("redis", o.Generation), template
		}
		check(obj, gvk)
	})
	t.Logf("%d objects judged alike", checked)
}

// wholeStatus is kstatus' judgement of the whole of obj.
func wholeStatus(t *testing.T, obj client.Object, gvk schema.GroupVersionKind) *status.Result {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvk)
	res, err := status.Compute(u)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func equalObjects(a, b runtime.Object) bool {
	ma, errA := runtime.DefaultUnstructuredConverter.ToUnstructured(a)
	mb, errB := runtime.DefaultUnstructuredConverter.ToUnstructured(b)
	return errA == nil && errB == nil && reflect.DeepEqual(ma, mb)
}
