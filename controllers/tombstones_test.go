package controllers

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tombstone"
)

// Tests of IssuedInstances: a new record's first pass reads the tombstones
// from the cache (no request per tenant), and that cache never lacks a
// tombstone that matters (docs/lifecycle.md rule B).

// laggingShards is a cache of the tombstone shards that can fall behind:
// while held, it answers from the shards as they were when the hold began
// (a watch that has not delivered the later events); released, it answers
// as the API server does. It counts the reads it answers, so a test sees
// when its user has looked at it.
type laggingShards struct {
	client.Reader
	mu       sync.Mutex
	snapshot map[client.ObjectKey]*corev1.ConfigMap // nil: not held
	gets     atomic.Int32
}

// awaitReads waits until l has answered n reads more than it had when
// called: the caller's poll has looked at the cache, and gone round again.
func (l *laggingShards) awaitReads(t *testing.T, n int32) {
	t.Helper()
	target := l.gets.Load() + n
	NewWithT(t).Eventually(l.gets.Load, 10*time.Second).Should(BeNumerically(">=", target), "reads of the cache")
}

func (l *laggingShards) hold(t *testing.T, namespace string) {
	t.Helper()
	list := &corev1.ConfigMapList{}
	NewWithT(t).Expect(k8sClient.List(testContext(t), list, client.InNamespace(namespace))).To(Succeed())
	l.mu.Lock()
	defer l.mu.Unlock()
	l.snapshot = map[client.ObjectKey]*corev1.ConfigMap{}
	for i := range list.Items {
		l.snapshot[client.ObjectKeyFromObject(&list.Items[i])] = &list.Items[i]
	}
}

func (l *laggingShards) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.snapshot = nil
}

func (l *laggingShards) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	l.gets.Add(1)
	l.mu.Lock()
	snapshot := l.snapshot
	l.mu.Unlock()
	if snapshot == nil {
		return l.Reader.Get(ctx, key, obj, opts...)
	}
	held, ok := snapshot[key]
	if !ok {
		return apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, key.Name)
	}
	held.DeepCopyInto(obj.(*corev1.ConfigMap))
	return nil
}

// countingGets counts the reads sent to the API server.
type countingGets struct {
	client.Reader
	gets atomic.Int32
}

func (c *countingGets) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.gets.Add(1)
	return c.Reader.Get(ctx, key, obj, opts...)
}

func shardNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{}
	ns.GenerateName = "tombstones-"
	NewWithT(t).Expect(k8sClient.Create(testContext(t), ns)).To(Succeed())
	return ns.Name
}

// A leader that takes over reads the tombstones from the API server until
// its cache holds every one an earlier leader wrote, and from its cache
// after that: a new tenant then costs no tombstone read.
func TestTombstonesAreReadFromTheCacheOnlyOnceItHoldsThemAll(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	ns := shardNamespace(t)
	earlier := issuedID()
	g.Expect(tombstone.Record(ctx, k8sClient, k8sClient, ns, earlier, tombstone.Entry{Product: "p", Kind: tombstone.KindTenant})).To(Succeed())
	cache := &laggingShards{Reader: k8sClient}
	cache.hold(t, "an-empty-namespace") // the cache has not seen the earlier leader's write
	reader := &countingGets{Reader: k8sClient}
	issued := &IssuedInstances{Cache: cache, Reader: reader, Namespace: ns}
	started := make(chan error, 1)
	go func() { started <- issued.Start(ctx) }()
	// Two more reads of the cache: the catch-up has compared it with the
	// API server, found it behind and gone round again; only then can the
	// check below tell a catch-up that waits from one that has not looked
	// yet.
	cache.awaitReads(t, 2)

	g.Consistently(issued.caughtUp.Load, "300ms", "20ms").Should(BeFalse(), "caught up with a cache that lacks a tombstone")
	entry, ok, err := issued.Lookup(ctx, reader, ns, earlier)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ok).To(BeTrue(), "a tombstone the cache has not seen is found in the API server meanwhile")
	g.Expect(entry.Product).To(Equal("p"))
	g.Expect(reader.gets.Load()).To(BeNumerically(">", 0))

	cache.release()
	g.Eventually(started).Should(Receive(BeNil()))
	g.Expect(issued.caughtUp.Load()).To(BeTrue())
	gets := reader.gets.Load()
	_, ok, err = issued.Lookup(ctx, reader, ns, earlier)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ok).To(BeTrue())
	_, ok, err = issued.Lookup(ctx, reader, ns, issuedID())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ok).To(BeFalse())
	g.Expect(reader.gets.Load()).To(Equal(gets), "no read from the API server once the cache caught up")
}

// A tombstone is written, then the record is let go only once the cache
// holds the tombstone: a record created again for the instance after its
// deletion then finds it in the cache.
func TestATombstoneIsLetGoOnlyOnceTheCacheHoldsIt(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	ns := shardNamespace(t)
	cache := &laggingShards{Reader: k8sClient}
	issued := &IssuedInstances{Cache: cache, Reader: k8sClient, Namespace: ns}
	g.Expect(issued.catchUp(ctx)).To(Succeed())
	cache.hold(t, ns)

	tenant := &saasv1alpha1.SaaSTenant{}
	tenant.Name = issuedID()
	tenant.Spec.ProductName = "p"
	recorded := make(chan error, 1)
	go func() {
		recorded <- recordTombstone(ctx, k8sClient, k8sClient, issued, events.NewFakeRecorder(4), ns, tenant, tombstone.KindTenant, false)
	}()
	g.Eventually(func() bool {
		_, ok, err := tombstone.Lookup(ctx, k8sClient, ns, tenant.Name)
		return ok && err == nil
	}).Should(BeTrue(), "the tombstone is written")
	// The wait for the cache has looked at it and gone round again, so the
	// check below watches a wait, not a record that has not looked yet.
	cache.awaitReads(t, 2)
	g.Consistently(recorded, "300ms", "20ms").ShouldNot(Receive(), "the record let go before the cache holds its tombstone")

	cache.release()
	g.Eventually(recorded, 5*time.Second).Should(Receive(BeNil()))
	entry, ok, err := issued.Lookup(ctx, k8sClient, ns, tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ok).To(BeTrue())
	g.Expect(entry).To(Equal(tombstone.Entry{Product: "p", Kind: tombstone.KindTenant}))
}

// TestATombstoneShardAtTheAPIServersLimitContinuesInTheNext: a shard
// holds about ten thousand tombstones; one at the API server's 1 MiB
// bound for a ConfigMap's data (as kooper of before filled it: nothing
// bounded it) refused every further entry ("Too long: must have at most
// 1048576 bytes"), so every deletion of a record of its ids stalled in
// Terminating, its finalizer kept, for good. A shard past ShardBytes is
// now marked full, and its ids' tombstones go to the next shard of its
// chain, where Lookup finds them.
func TestATombstoneShardAtTheAPIServersLimitContinuesInTheNext(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	ns := shardNamespace(t)
	deleted := issuedID()
	first := tombstone.ShardName(deleted)
	sameShard := func() string { return deleted[:4] + issuedID()[4:] }
	atTheLimit := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: first, Labels: map[string]string{
			saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue, "app.kubernetes.io/component": tombstone.ComponentValue}},
		Data: map[string]string{"earlier-entries": strings.Repeat("x", 1<<20-len("earlier-entries")-16)},
	}
	g.Expect(k8sClient.Create(ctx, atTheLimit)).To(Succeed())

	entry := tombstone.Entry{Product: "p", Kind: tombstone.KindTenant}
	g.Expect(tombstone.Record(ctx, k8sClient, k8sClient, ns, deleted, entry)).To(Succeed())
	g.Expect(getObject(t, &corev1.ConfigMap{}, ns, first).Annotations).To(HaveKeyWithValue(tombstone.FullAnnotation, "true"))
	g.Expect(getObject(t, &corev1.ConfigMap{}, ns, first+"-2").Data).To(HaveKeyWithValue(deleted, "SaaSTenant/p"))

	next := sameShard()
	g.Expect(tombstone.Record(ctx, k8sClient, k8sClient, ns, next, entry)).To(Succeed())
	g.Expect(tombstone.Record(ctx, k8sClient, k8sClient, ns, deleted, entry)).To(Succeed(), "recording an id twice is harmless")
	g.Expect(getObject(t, &corev1.ConfigMap{}, ns, first+"-2").Data).To(HaveLen(2))
	for id, want := range map[string]bool{deleted: true, next: true, sameShard(): false} {
		found, ok, err := tombstone.Lookup(ctx, k8sClient, ns, id)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(ok).To(Equal(want), id)
		if want {
			g.Expect(found).To(Equal(entry))
		}
	}
}
