package apply

import (
	"math/rand"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/randfill"
)

// kindsApplied are fresh objects of every kind the tenant controller
// applies (its own and a chart's), and the Secrets and ConfigMaps.
func kindsApplied() []client.Object {
	return []client.Object{
		&corev1.Namespace{}, &appsv1.Deployment{}, &corev1.Service{}, &networkingv1.Ingress{},
		&networkingv1.NetworkPolicy{}, &corev1.ResourceQuota{}, &corev1.LimitRange{},
		&corev1.ServiceAccount{}, &corev1.PersistentVolumeClaim{}, &appsv1.StatefulSet{},
		&batchv1.Job{}, &batchv1.CronJob{}, &autoscalingv2.HorizontalPodAutoscaler{},
		&policyv1.PodDisruptionBudget{}, &corev1.Secret{}, &corev1.ConfigMap{},
	}
}

// filler fills objects with random values that the converter accepts: a
// Quantity, IntOrString or Time left to randfill is not one a client
// could have decoded.
func filler(seed int64) *randfill.Filler {
	return randfill.NewWithSeed(seed).NilChance(0.3).NumElements(0, 2).MaxDepth(10).Funcs(
		func(q *resource.Quantity, c randfill.Continue) {
			*q = *resource.NewQuantity(c.Int63n(2000), resource.DecimalSI)
		},
		func(v *intstr.IntOrString, c randfill.Continue) {
			if c.Bool() {
				*v = intstr.FromInt32(c.Int31n(100))
			} else {
				*v = intstr.FromString(c.String(4))
			}
		},
		func(t *metav1.Time, c randfill.Continue) {
			*t = metav1.Unix(c.Int63n(2e9), 0)
		},
		func(f *metav1.FieldsV1, _ randfill.Continue) {
			*f = *metav1.NewFieldsV1(`{"f:metadata":{}}`)
		},
		func(t *metav1.MicroTime, c randfill.Continue) {
			*t = metav1.NewMicroTime(metav1.Unix(c.Int63n(2e9), 0).Time)
		},
	)
}

// keepSome deletes map keys at random, at any depth: what is left is a
// subset of m.
func keepSome(v any, r *rand.Rand) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if r.Intn(4) == 0 {
				delete(t, k)
				continue
			}
			keepSome(e, r)
		}
	case []any:
		for _, e := range t {
			keepSome(e, r)
		}
	}
}

// changeALeaf changes one value at random, if it finds one.
func changeALeaf(v any, r *rand.Rand) any {
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if len(keys) > 0 {
			k := keys[r.Intn(len(keys))]
			t[k] = changeALeaf(t[k], r)
		}
		return t
	case []any:
		if len(t) > 0 {
			i := r.Intn(len(t))
			t[i] = changeALeaf(t[i], r)
		}
		return t
	case string:
		return t + "x"
	case int64:
		return t + 1
	case float64:
		return t + 0.5
	case bool:
		return !t
	case nil:
		return "set"
	}
	return v
}

// requireAgrees fails unless holdsFields answers as isSubset does on the
// converted object.
func requireAgrees(t *testing.T, desired map[string]any, actual client.Object) {
	t.Helper()
	converted, err := runtime.DefaultUnstructuredConverter.ToUnstructured(actual)
	if err != nil {
		t.Skipf("the converter refuses the object: %v", err)
	}
	want := isSubset(desired, converted)
	if got := holdsFields(desired, actual); got != want {
		t.Fatalf("holdsFields = %v, isSubset on the converted object = %v\ndesired: %#v\nactual: %#v", got, want, desired, converted)
	}
}

// FuzzHoldsFields holds holdsFields to isSubset on the converted object,
// for random objects of every applied kind and three desired objects each:
// a part of the object's own fields (true unless the part is empty-valued),
// that part with one value changed (false, mostly), and another random
// object of any kind.
func FuzzHoldsFields(f *testing.F) {
	for seed := range int64(32) {
		f.Add(seed, uint8(seed), uint8(seed/2))
	}
	f.Fuzz(func(t *testing.T, seed int64, kind, otherKind uint8) {
		fill := filler(seed)
		kinds, others := kindsApplied(), kindsApplied()
		actual := kinds[int(kind)%len(kinds)]
		fill.Fill(actual)
		converted, err := runtime.DefaultUnstructuredConverter.ToUnstructured(actual)
		if err != nil {
			t.Skipf("the converter refuses the %T: %v", actual, err)
		}
		r := rand.New(rand.NewSource(seed))
		part := runtime.DeepCopyJSON(converted)
		keepSome(part, r)
		requireAgrees(t, part, actual)
		requireAgrees(t, changeALeaf(runtime.DeepCopyJSON(part), r).(map[string]any), actual)
		other := others[int(otherKind)%len(others)]
		fill.Fill(other)
		if desired, err := desiredMap(other); err == nil {
			requireAgrees(t, desired, actual)
		}
	})
}

func TestHoldsFields(t *testing.T) {
	secret := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: "s", Labels: map[string]string{"a": "1"}},
		Data:       map[string][]byte{"password": []byte("hunter2")},
	}
	quota := &corev1.ResourceQuota{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ResourceQuota"},
		Spec:     corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("5")}},
	}
	service := &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromString("http")}}}}
	for _, tc := range []struct {
		name    string
		desired map[string]any
		actual  client.Object
		want    bool
	}{
		{"kind and metadata through the inlined TypeMeta", map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "s"}}, secret, true},
		{"another kind", map[string]any{"kind": "ConfigMap"}, secret, false},
		{"bytes as base64", map[string]any{"data": map[string]any{"password": "aHVudGVyMg=="}}, secret, true},
		{"other bytes", map[string]any{"data": map[string]any{"password": "aHVudGVyMw=="}}, secret, false},
		{"a label missing", map[string]any{"metadata": map[string]any{"labels": map[string]any{"b": "1"}}}, secret, false},
		{"an empty desired map holds on a nil one", map[string]any{"metadata": map[string]any{"annotations": map[string]any{}}}, secret, true},
		{"a quantity as its string", map[string]any{"spec": map[string]any{"hard": map[string]any{"pods": "5"}}}, quota, true},
		{"another quantity", map[string]any{"spec": map[string]any{"hard": map[string]any{"pods": "6"}}}, quota, false},
		{"an int-or-string and an int64", map[string]any{"spec": map[string]any{"ports": []any{map[string]any{"port": int64(80), "targetPort": "http"}}}}, service, true},
		{"a list of another length", map[string]any{"spec": map[string]any{"ports": []any{}}}, service, false},
		{"an omitted empty string set in desired", map[string]any{"spec": map[string]any{"type": ""}}, service, false},
		{"a field the type lacks", map[string]any{"spec": map[string]any{"color": "red"}}, service, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := holdsFields(tc.desired, tc.actual); got != tc.want {
				t.Errorf("holdsFields = %v, want %v", got, tc.want)
			}
			requireAgrees(t, tc.desired, tc.actual)
		})
	}
}
