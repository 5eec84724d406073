package main

import (
	"context"
	"slices"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// readyWatcher records when each object first became ready, from a watch
// rather than polling: polling thousands of objects would load the API
// server under test, and its period would blur the times.
type readyWatcher struct {
	mu      sync.Mutex
	readyAt map[string]time.Time
	changed chan struct{}
}

// watchReady watches list's kind and records key(obj) when ready(obj)
// first holds, until ctx ends. The watch is re-established if the server
// closes it, from the last resource version seen.
func (b *bench) watchReady(ctx context.Context, list client.ObjectList, key func(client.Object) string, ready func(client.Object) bool) *readyWatcher {
	return b.watchStates(ctx, list, key, ready)[0]
}

// watchStates is watchReady for several states over one watch, a watcher
// for each: every watch the bench opens on kooper's kinds is an extra
// receiver of each write that the API server must serve, a cost the
// direct creates do not pay.
func (b *bench) watchStates(ctx context.Context, list client.ObjectList, key func(client.Object) string, states ...func(client.Object) bool) []*readyWatcher {
	watchers := make([]*readyWatcher, len(states))
	for i := range watchers {
		watchers[i] = &readyWatcher{readyAt: map[string]time.Time{}, changed: make(chan struct{}, 1)}
	}
	go func() {
		rv := ""
		for ctx.Err() == nil {
			wi, err := b.client.Watch(ctx, list, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true}})
			if err != nil {
				rv = ""
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
				continue
			}
			for ev := range wi.ResultChan() {
				obj, ok := ev.Object.(client.Object)
				if !ok || ev.Type == watch.Error {
					rv = ""
					break
				}
				rv = obj.GetResourceVersion()
				if ev.Type != watch.Added && ev.Type != watch.Modified {
					continue
				}
				for i, state := range states {
					if state(obj) {
						watchers[i].mark(key(obj))
					}
				}
			}
			wi.Stop()
		}
	}()
	return watchers
}

func (w *readyWatcher) mark(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, seen := w.readyAt[key]; !seen {
		w.readyAt[key] = time.Now()
		select {
		case w.changed <- struct{}{}:
		default:
		}
	}
}

// when returns when key became ready.
func (w *readyWatcher) when(key string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.readyAt[key]
	return t, ok
}

// count is how many objects are ready.
func (w *readyWatcher) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.readyAt)
}

// waitAll waits until every key is ready, or the timeout.
func (w *readyWatcher) waitAll(ctx context.Context, keys []string, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		all := !slices.ContainsFunc(keys, func(k string) bool { _, ok := w.readyAt[k]; return !ok })
		w.mu.Unlock()
		if all {
			return true
		}
		select {
		case <-w.changed:
		case <-time.After(time.Second):
		case <-deadline:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// waitCount waits until at least n objects are ready, or the timeout.
func (w *readyWatcher) waitCount(ctx context.Context, n int, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for w.count() < n {
		select {
		case <-w.changed:
		case <-time.After(time.Second):
		case <-deadline:
			return false
		case <-ctx.Done():
			return false
		}
	}
	return true
}

func tenantName(obj client.Object) string { return obj.GetName() }

func tenantReady(obj client.Object) bool {
	t, ok := obj.(*saasv1alpha1.SaaSTenant)
	return ok && apimeta.IsStatusConditionTrue(t.Status.Conditions, saasv1alpha1.ReadyCondition)
}

func tenantProvisioned(obj client.Object) bool {
	t, ok := obj.(*saasv1alpha1.SaaSTenant)
	return ok && apimeta.IsStatusConditionTrue(t.Status.Conditions, saasv1alpha1.ProvisionedCondition)
}

func deploymentNamespace(obj client.Object) string { return obj.GetNamespace() }

// deploymentAvailable is what the operator itself waits for before a
// tenant is Ready: kstatus finds the Deployment Current.
var deploymentAvailable = kstatusCurrent(appsv1.SchemeGroupVersion.WithKind("Deployment"))
