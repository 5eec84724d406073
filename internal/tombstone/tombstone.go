// Package tombstone remembers the instances kooper issued whose records
// (SaaSTenant or License) are gone, so that later callbacks for them are
// answered as for a released instance rather than 000003 (DESIGN rule 11,
// docs/lifecycle.md rule B).
//
// Tombstones are kept in ConfigMaps in kooper's namespace, sharded by the
// instance id: kooper-issued-<xx>, where xx are the two hex digits after
// "i-". Each entry's key is the instance id and its value the product name
// and kind, so a shard of ~80-byte entries holds over ten thousand ids and
// the 256 shards a few million. Only the controllers write them, never Helm,
// so uninstalling and reinstalling the chart keeps them.
package tombstone

import (
	"context"
	"fmt"
	"regexp"
	"slices"
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
}

// lostWithCRDMark ends the value of an entry whose record was lost with its
// CRD: "<kind>/<product>/lost-with-crd".
const lostWithCRDMark = "lost-with-crd"

// instanceIDPattern is the shape of an id kooper issues: i- and 20 hex digits.
var instanceIDPattern = regexp.MustCompile(`^i-[0-9a-f]{20}$`)

// ShardName is the name of the shard holding id's tombstone, or "" when id
// is not shaped like an id kooper issues (and so has no tombstone).
func ShardName(id string) string {
	if !instanceIDPattern.MatchString(id) {
		return ""
	}
	return ShardPrefix + id[2:4]
}

// Find returns id's tombstone in shard, if any.
func Find(shard *corev1.ConfigMap, id string) (Entry, bool) {
	value, ok := shard.Data[id]
	if !ok {
		return Entry{}, false
	}
	kind, product, _ := strings.Cut(value, "/")
	product, mark, _ := strings.Cut(product, "/")
	return Entry{Product: product, Kind: Kind(kind), LostWithCRD: mark == lostWithCRDMark}, true
}

func encode(e Entry) string {
	value := string(e.Kind) + "/" + e.Product
	if e.LostWithCRD {
		value += "/" + lostWithCRDMark
	}
	return value
}

// Lookup reads id's tombstone through reader (pass an uncached reader to
// decide on the API server's state), with opts (a cache reader may take
// client.UnsafeDisableDeepCopy: the shard is only read). A missing shard is
// no tombstone.
func Lookup(ctx context.Context, reader client.Reader, namespace, id string, opts ...client.GetOption) (Entry, bool, error) {
	name := ShardName(id)
	if name == "" {
		return Entry{}, false, nil
	}
	shard := &corev1.ConfigMap{}
	err := reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, shard, opts...)
	if apierrors.IsNotFound(err) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("failed to read tombstone shard %s: %w", name, err)
	}
	e, ok := Find(shard, id)
	return e, ok, nil
}

// GoneLicences lists, sorted, the ids of product's licence instances whose
// records are gone, reading every shard through reader. A licence key
// names its instance, so these stay revoked for as long as a key of theirs
// may be valid (docs/lifecycle.md rule S). A licence whose record was lost
// with its CRD is not among them: nobody released it.
func GoneLicences(ctx context.Context, reader client.Reader, namespace, product string) ([]string, error) {
	shards := &corev1.ConfigMapList{}
	err := reader.List(ctx, shards, client.InNamespace(namespace), client.MatchingLabels{"app.kubernetes.io/component": ComponentValue})
	if err != nil {
		return nil, fmt.Errorf("failed to list the tombstone shards: %w", err)
	}
	want := encode(Entry{Product: product, Kind: KindLicense})
	var ids []string
	for i := range shards.Items {
		for id, value := range shards.Items[i].Data {
			if value == want {
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
func Record(ctx context.Context, c client.Client, reader client.Reader, namespace, id string, e Entry) error {
	name := ShardName(id)
	if name == "" {
		return nil
	}
	retryable := func(err error) bool { return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) }
	return retry.OnError(retry.DefaultBackoff, retryable, func() error {
		shard := &corev1.ConfigMap{}
		err := reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, shard)
		if apierrors.IsNotFound(err) {
			return c.Create(ctx, newShard(namespace, name, id, e))
		}
		if err != nil {
			return err
		}
		if found, ok := Find(shard, id); ok && (found == e || !found.LostWithCRD) {
			return nil // an instance deleted for good stays so
		}
		if shard.Data == nil {
			shard.Data = map[string]string{}
		}
		shard.Data[id] = encode(e)
		return c.Update(ctx, shard)
	})
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
