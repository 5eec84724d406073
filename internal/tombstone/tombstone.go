// Package tombstone remembers the instances kooper issued whose records
// (SaaSTenant or License) are gone, so that later callbacks for them are
// answered as for a released instance rather than 000003 (DESIGN rule 11,
// docs/lifecycle.md rule B).
//
// Tombstones are kept in ConfigMaps in kooper's namespace, sharded by the
// instance id: kooper-issued-<xx>, where xx are the two hex digits after
// "i-". Each entry's key is the instance id and its value the product name
// and kind (and, for a record lost with its CRD, a mark saying so and
// whether it was released then), so a shard of ~80-byte entries holds about ten thousand ids and
// the 256 shards a few million; a full shard continues in
// kooper-issued-xx-2, then -3, and so on. Only the controllers write them,
// never Helm, so uninstalling and reinstalling the chart keeps them.
package tombstone

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// ShardPrefix starts the name of every tombstone shard.
const ShardPrefix = "kooper-issued-"

// ComponentValue labels the shards (app.kubernetes.io/component).
const ComponentValue = "issued-instances"

// Kind is the kind of record an instance had.
type Kind string

const (
	// KindTenant: a SaaSTenant.
	KindTenant Kind = "SaaSTenant"
	// KindLicense: a License.
	KindLicense Kind = "License"
)

// Entry is what a tombstone remembers of an instance.
type Entry struct {
	// Product is the SaaSProduct the instance was bought from.
	Product string
	// Kind is the kind of its record.
	Kind Kind
	// LostWithCRD is set when the record went because its CRD was
	// deleted: the instance was neither released nor deleted by anyone's
	// decision, so it is not revoked, a record restored from a backup is
	// taken back, and callbacks for it wait (000005) until it is.
	LostWithCRD bool
	// ReleasedWhenLost is set on an entry LostWithCRD whose instance was
	// already released when its record went: release is final
	// (docs/lifecycle.md rule R), so a record restored from a backup taken
	// before the release is taken back as Released, never served again,
	// and a licence stays revoked meanwhile.
	ReleasedWhenLost bool
}

// lostWithCRDMark ends the value of an entry whose record was lost with its
// CRD: "<kind>/<product>/lost-with-crd".
const lostWithCRDMark = "lost-with-crd"

// releasedWhenLostMark ends the value of an entry whose record was lost with
// its CRD after its instance was released:
// "<kind>/<product>/lost-with-crd/released". It is a suffix, not a state
// on every lost entry, so that a kooper of an earlier version, which reads
// an unknown mark as an ordinary tombstone, reads it as released too, and
// a lost active instance stays "…/lost-with-crd", which it reads as lost.
const releasedWhenLostMark = lostWithCRDMark + "/released"

// instanceIDPattern is the shape of an id kooper issues: i- and 20 hex digits.
var instanceIDPattern = regexp.MustCompile(`^i-[0-9a-f]{20}$`)

// ShardName is the name of the first shard for id's tombstone, or "" when
// id is not shaped like an id kooper issues (and so has no tombstone).
// A shard that is full continues in the next of its chain (chainShard).
func ShardName(id string) string {
	if !instanceIDPattern.MatchString(id) {
		return ""
	}
	return ShardPrefix + id[2:4]
}

// ShardBytes bounds the entries of one shard (keys and values, as the API
// server counts a ConfigMap's data against its 1 MiB limit): a quarter
// below it, so that a shard's whole object stays well inside etcd's
// request limit too. About ten thousand entries fit; a shard that would
// pass it is marked full and its next entries go to the next shard.
const ShardBytes = 768 << 10

// FullAnnotation marks a shard that holds no more entries: its instance
// ids' later tombstones are in the next shard of its chain. It is written
// before that shard is made, so a reader that finds a shard not marked
// full needs to look no further.
const FullAnnotation = "saas.kooper.io/tombstones-full"

// chainShard is the name of the n-th shard (from 1) of the chain that
// starts at first: first itself, then first-2, first-3, and so on.
func chainShard(first string, n int) string {
	if n == 1 {
		return first
	}
	return first + "-" + strconv.Itoa(n)
}

// full reports whether shard is marked as holding no more entries.
func full(shard *corev1.ConfigMap) bool {
	return shard.Annotations[FullAnnotation] == "true"
}

// dataBytes is the size of shard's entries as the API server counts them.
func dataBytes(shard *corev1.ConfigMap) int {
	n := 0
	for k, v := range shard.Data {
		n += len(k) + len(v)
	}
	return n
}

// Find returns id's tombstone in shard, if any.
func Find(shard *corev1.ConfigMap, id string) (Entry, bool) {
	value, ok := shard.Data[id]
	if !ok {
		return Entry{}, false
	}
	return decode(value), true
}

// decode reads an entry's value. A mark it does not know (an edit by hand,
// a later version's) reads as an ordinary tombstone: released, the safe
// side for an instance nobody can tell the state of.
func decode(value string) Entry {
	kind, product, _ := strings.Cut(value, "/")
	product, mark, _ := strings.Cut(product, "/")
	e := Entry{Product: product, Kind: Kind(kind)}
	switch mark {
	case lostWithCRDMark:
		e.LostWithCRD = true
	case releasedWhenLostMark:
		e.LostWithCRD, e.ReleasedWhenLost = true, true
	}
	return e
}

func encode(e Entry) string {
	value := string(e.Kind) + "/" + e.Product
	switch {
	case e.LostWithCRD && e.ReleasedWhenLost:
		value += "/" + releasedWhenLostMark
	case e.LostWithCRD:
		value += "/" + lostWithCRDMark
	}
	return value
}

// Revoked reports whether the instance is to answer as released: gone for
// good, or lost with its CRD after it was released. A licence key names
// its instance, so such a licence stays revoked (docs/lifecycle.md rule S).
func (e Entry) Revoked() bool {
	return !e.LostWithCRD || e.ReleasedWhenLost
}

// Lookup reads id's tombstone through reader (pass an uncached reader to
// decide on the API server's state), with opts (a cache reader may take
// client.UnsafeDisableDeepCopy: the shard is only read). A missing shard is
// no tombstone.
//
// The shards that follow a full one are read too, in turn, until one not
// marked full: an id's tombstone is in the first shard of its chain that
// had room.
func Lookup(ctx context.Context, reader client.Reader, namespace, id string, opts ...client.GetOption) (Entry, bool, error) {
	first := ShardName(id)
	if first == "" {
		return Entry{}, false, nil
	}
	for n := 1; ; n++ {
		name := chainShard(first, n)
		shard := &corev1.ConfigMap{}
		err := reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, shard, opts...)
		if apierrors.IsNotFound(err) {
			return Entry{}, false, nil
		}
		if err != nil {
			return Entry{}, false, fmt.Errorf("failed to read tombstone shard %s: %w", name, err)
		}
		if e, ok := Find(shard, id); ok || !full(shard) {
			return e, ok, nil
		}
	}
}

// GoneLicences lists, sorted, the ids of product's licence instances whose
// records are gone, reading every shard through reader, with opts (a cache
// reader may take client.UnsafeDisableDeepCopy: the shards are only read).
// A licence key names its instance, so these stay revoked for as long as a
// key of theirs may be valid (docs/lifecycle.md rule S). A licence whose
// record was lost with its CRD is among them only if it had been released
// (Entry.Revoked): the others nobody released.
func GoneLicences(ctx context.Context, reader client.Reader, namespace, product string, opts ...client.ListOption) ([]string, error) {
	shards := &corev1.ConfigMapList{}
	opts = append([]client.ListOption{client.InNamespace(namespace), client.MatchingLabels{"app.kubernetes.io/component": ComponentValue}}, opts...)
	err := reader.List(ctx, shards, opts...)
	if err != nil {
		return nil, fmt.Errorf("failed to list the tombstone shards: %w", err)
	}
	var ids []string
	for i := range shards.Items {
		for id, value := range shards.Items[i].Data {
			if e := decode(value); e.Kind == KindLicense && e.Product == product && e.Revoked() {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// Record stores id's tombstone, creating its shard if needed. It reads
// through reader (uncached) and writes with the read resourceVersion,
// retrying on a conflict, so concurrent writers never lose an entry.
// Recording an id twice is harmless. Only an entry LostWithCRD is ever
// replaced (its record was restored, then deleted again); an instance
// deleted for good stays so.
//
// An entry that would take a shard past ShardBytes goes to the next shard
// of its chain instead, once the shard is marked full (FullAnnotation):
// the number of instances remembered is bounded by nothing but etcd.
func Record(ctx context.Context, c client.Client, reader client.Reader, namespace, id string, e Entry) error {
	first := ShardName(id)
	if first == "" {
		return nil
	}
	retryable := func(err error) bool { return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) }
	return retry.OnError(retry.DefaultBackoff, retryable, func() error {
		for n := 1; ; n++ {
			done, err := recordIn(ctx, c, reader, namespace, chainShard(first, n), id, e)
			if done || err != nil {
				return err
			}
		}
	})
}

// recordIn stores id's entry in shard name, and reports whether the chain
// ends there: false when the shard is full, and the entry is not in it, so
// the next shard is to be tried.
func recordIn(ctx context.Context, c client.Client, reader client.Reader, namespace, name, id string, e Entry) (bool, error) {
	shard := &corev1.ConfigMap{}
	err := reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, shard)
	if apierrors.IsNotFound(err) {
		return true, c.Create(ctx, newShard(namespace, name, id, e))
	}
	if err != nil {
		return true, err
	}
	found, ok := Find(shard, id)
	switch {
	case ok && (found == e || !found.LostWithCRD):
		return true, nil // an instance deleted for good stays so
	case ok:
	case full(shard):
		return false, nil
	case dataBytes(shard)+len(id)+len(encode(e)) > ShardBytes:
		// Marked, with the read resourceVersion, before the next shard
		// is made: a reader never misses an entry of the next one.
		metav1.SetMetaDataAnnotation(&shard.ObjectMeta, FullAnnotation, "true")
		return false, c.Update(ctx, shard)
	}
	if shard.Data == nil {
		shard.Data = map[string]string{}
	}
	shard.Data[id] = encode(e)
	return true, c.Update(ctx, shard)
}

func newShard(namespace, name, id string, e Entry) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: map[string]string{
			saasv1alpha1.ManagedByLabel:   saasv1alpha1.ManagedByValue,
			"app.kubernetes.io/component": ComponentValue,
		}},
		Data: map[string]string{id: encode(e)},
	}
}
