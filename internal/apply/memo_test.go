package apply

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// memoApplier is an uncached Applier with a Memo on a clock the test moves;
// reads counts its reads through Reader (the API server's).
func memoApplier(t *testing.T) (a *Applier, n *calls, reads *int, clock *time.Time) {
	t.Helper()
	a, n = newApplier(t, interceptor.Funcs{})
	reads, clock = new(int), &time.Time{}
	*clock = time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	a.Reader = fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithInterceptorFuncs(interceptor.Funcs{
		Get: func(ctx context.Context, _ client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			*reads++
			return a.Client.Get(ctx, key, obj, opts...) // what the API server holds: the fake client's store
		},
	}).Build()
	a.Uncached = func(client.Object) bool { return true }
	a.HashAnnotation = "example.com/last-applied"
	a.Written = NewMemo(time.Minute, func() time.Time { return *clock })
	return a, n, reads, clock
}

func applyOrFail(t *testing.T, a *Applier, obj client.Object) bool {
	t.Helper()
	wrote, err := a.Apply(context.Background(), obj)
	if err != nil {
		t.Fatal(err)
	}
	return wrote
}

// An uncached object this process wrote is not read back while its desired
// hash is the same and the write is younger than the TTL; a change of the
// desired object, the TTL's end, or a deletion each bring the read back.
func TestAMemoSparesTheReadOfAnUncachedObjectThisProcessWrote(t *testing.T) {
	a, n, reads, clock := memoApplier(t)
	want := configMap(map[string]string{"a": "1"}, nil)
	if !applyOrFail(t, a, want) || *reads != 1 {
		t.Fatalf("first apply: %d reads, want 1 (nothing remembered yet)", *reads)
	}
	*clock = clock.Add(59 * time.Second)
	if applyOrFail(t, a, want) || *reads != 1 || n.applies != 1 {
		t.Errorf("within the TTL: %d reads, %d applies; want 1 and 1 (in step as written)", *reads, n.applies)
	}
	// A hand edit made meanwhile is what the Memo gives up: seen only once
	// the TTL is over, then put back.
	edited := &corev1.ConfigMap{}
	if err := a.Client.Get(context.Background(), client.ObjectKeyFromObject(want), edited); err != nil {
		t.Fatal(err)
	}
	edited.Data["a"] = "by hand"
	if err := a.Client.Update(context.Background(), edited); err != nil {
		t.Fatal(err)
	}
	*clock = clock.Add(2 * time.Second)
	if !applyOrFail(t, a, want) || *reads != 2 {
		t.Errorf("after the TTL: %d reads, want 2, and the hand edit put back", *reads)
	}
	if applyOrFail(t, a, configMap(map[string]string{"a": "2"}, nil)) != true || *reads != 3 {
		t.Errorf("a changed desired object: %d reads, want 3 and a write", *reads)
	}
	if _, err := a.Remove(context.Background(), want); err != nil {
		t.Fatal(err)
	}
	if !applyOrFail(t, a, want) || *reads != 5 { // Remove reads (1), then the apply finds nothing remembered (1)
		t.Errorf("after a removal: %d reads, want 5 and a write", *reads)
	}
}

// An object created in a fresh namespace is remembered too: the new
// tenant's next pass does not read it.
func TestAMemoRemembersObjectsCreatedInAFreshNamespace(t *testing.T) {
	a, n, reads, _ := memoApplier(t)
	a.FreshNamespace, a.CreatedAnnotation = true, "example.com/fields-owner"
	want := configMap(map[string]string{"a": "1"}, nil)
	if !applyOrFail(t, a, want) {
		t.Fatal("not created")
	}
	a.FreshNamespace = false
	if applyOrFail(t, a, want) || *reads != 0 || n.applies != 0 {
		t.Errorf("next pass: %d reads, %d applies; want none", *reads, n.applies)
	}
}

// Only uncached objects are remembered: a cached one is compared with the
// cache, which costs no request.
func TestAMemoIgnoresCachedObjects(t *testing.T) {
	a, n, _, _ := memoApplier(t)
	a.Uncached = func(client.Object) bool { return false }
	want := configMap(map[string]string{"a": "1"}, nil)
	applyOrFail(t, a, want)
	if a.Written.Len() != 0 || n.gets != 1 {
		t.Errorf("remembered %d objects, %d cache reads; want 0 and 1", a.Written.Len(), n.gets)
	}
}

func TestAMemoSweepsExpiredEntries(t *testing.T) {
	clock := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	m := NewMemo(time.Minute, func() time.Time { return clock })
	cm := configMap(nil, nil)
	gk := cm.GroupVersionKind().GroupKind()
	m.wrote(gk, client.ObjectKey{Namespace: "a", Name: "x"}, "h1")
	clock = clock.Add(2 * time.Minute)
	m.wrote(gk, client.ObjectKey{Namespace: "b", Name: "x"}, "h2")
	if m.Len() != 1 || m.inStep(gk, client.ObjectKey{Namespace: "a", Name: "x"}, "h1") {
		t.Errorf("after the TTL: %d entries, want only the new one", m.Len())
	}
	if !m.inStep(gk, client.ObjectKey{Namespace: "b", Name: "x"}, "h2") || m.inStep(gk, client.ObjectKey{Namespace: "b", Name: "x"}, "h3") {
		t.Error("the new entry vouches for its hash and only for it")
	}
}
