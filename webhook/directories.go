package webhook

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/directory"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// +kubebuilder:rbac:groups=saas.kooper.io,resources=saasdirectories,verbs=get;create;update
// In the directory namespace the receiver writes shards, and the
// tombstones that keep a deleted directory's replay claims (keepClaims), as
// Secrets (read directly, never watched: nothing caches them) and may only
// list ConfigMaps, to see whether shards from before are still being moved.
// +kubebuilder:rbac:groups="",namespace=kooper-directory,resources=secrets,verbs=list;create;update;delete
// +kubebuilder:rbac:groups="",namespace=kooper-directory,resources=configmaps,verbs=list

// DirectoryName derives a SaaSDirectory's name from the kit's idempotency key
// (instanceId, tenantId; spec §1.8), so every replica finds the same object
// and a concurrent first sync hits AlreadyExists.
func DirectoryName(instanceID, tenantID string) string {
	return "d-" + shortHash(instanceID, tenantID)
}

// shardNamespace is where directory shards are written.
func (r *Receiver) shardNamespace() string {
	if r.opts.DirectoryNamespace != "" {
		return r.opts.DirectoryNamespace
	}
	return r.opts.Namespace
}

// ShardName names a directory's shard, a Secret, in the directory namespace.
func ShardName(directoryName string, part directory.Part, index int) string {
	return fmt.Sprintf("%s-%s-%03d", directoryName, part, index)
}

// directory returns the SaaSDirectory of the call's (instanceId, tenantId),
// creating it on the first sync. It never refuses an unknown instance: the
// seller's test tenant is synced without any order (spec §1.8).
func (r *Receiver) directory(ctx context.Context, c *kitCall, common koogallery.KitCommon) (*saasv1alpha1.SaaSDirectory, error) {
	c.instanceID = common.InstanceID
	if err := r.checkInstanceProduct(ctx, c, common.InstanceID); err != nil {
		return nil, err
	}
	key := types.NamespacedName{Name: DirectoryName(common.InstanceID, common.TenantID)}
	d, err := r.getOrCreateDirectory(ctx, c, key, common)
	if err == nil && !d.DeletionTimestamp.IsZero() {
		// The enterprise was deleted a moment ago (a tenantSync delete,
		// then an add): its old directory goes as soon as the controllers
		// have deleted its shards. Wait for that, then start a new one.
		if err = r.awaitDirectoryGone(ctx, key); err == nil {
			d, err = r.getOrCreateDirectory(ctx, c, key, common)
		}
	}
	switch {
	case err != nil:
		return nil, asInternal(err, "the directory could not be stored")
	case !d.DeletionTimestamp.IsZero():
		return nil, errDirectoryDeleting
	}
	return d, checkDirectory(d, c, common)
}

// checkInstanceProduct refuses, 000003 as a basic callback is, a kit call
// naming an instance that is another product's tenant or licence (find
// reads both kinds, as an instance ID may be either): its directory would
// be stored for nothing (the controllers deliver it nowhere) and hold the
// other enterprise's personal data for as long as that instance lives. An
// instance kooper does not have (yet) is let through: the seller's test
// tenant is synced without any order. The records are read from the API
// server, as every read of the directory they guard is.
func (r *Receiver) checkInstanceProduct(ctx context.Context, c *kitCall, instanceID string) error {
	key := types.NamespacedName{Name: instanceID}
	for _, record := range []client.Object{&saasv1alpha1.SaaSTenant{}, &saasv1alpha1.License{}} {
		err := r.reader.Get(ctx, key, record)
		switch {
		case apierrors.IsNotFound(err) || apierrors.IsInvalid(err):
			continue
		case err != nil:
			return asInternal(err, "the instance could not be read")
		case instanceProduct(record) != c.product.Name:
			return errAnotherProductsInstance(instanceID)
		}
	}
	return nil
}

// instanceProduct is the product a SaaSTenant or License names.
func instanceProduct(record client.Object) string {
	switch o := record.(type) {
	case *saasv1alpha1.SaaSTenant:
		return o.Spec.ProductName
	case *saasv1alpha1.License:
		return o.Spec.ProductName
	}
	return ""
}

// checkDirectory refuses a directory that is not the call's: another pair
// under the same name, or another product's enterprise.
func checkDirectory(d *saasv1alpha1.SaaSDirectory, c *kitCall, common koogallery.KitCommon) error {
	switch {
	case d.Spec.InstanceID != common.InstanceID || d.Spec.TenantID != common.TenantID:
		return errInternal("directory name collision between two tenants", nil)
	case d.Spec.ProductName != c.product.Name:
		return errBadParam("the tenantId of this instanceId is synced through product %q, not %q",
			d.Spec.ProductName, c.product.Name)
	}
	return nil
}

// getOrCreateDirectory reads the directory key, creating it if absent. The
// directory it creates carries the call's replay claim, and those of the
// directory of its name deleted within the window (claimNewDirectory).
func (r *Receiver) getOrCreateDirectory(ctx context.Context, c *kitCall, key types.NamespacedName,
	common koogallery.KitCommon) (*saasv1alpha1.SaaSDirectory, error) {
	d := &saasv1alpha1.SaaSDirectory{}
	err := r.reader.Get(ctx, key, d)
	if !apierrors.IsNotFound(err) {
		return d, err
	}
	d = newDirectory(key.Name, c.product.Name, common)
	if err := r.claimNewDirectory(ctx, c, d); err != nil {
		return nil, err
	}
	switch err = r.client.Create(ctx, d); {
	case err == nil:
		c.replay.storedOn(d)
	case apierrors.IsAlreadyExists(err):
		// Another replica created it: this call claims it as it would an
		// existing one, which refuses it if that replica's call was this
		// one (updateDirectory).
		d = &saasv1alpha1.SaaSDirectory{}
		err = r.reader.Get(ctx, key, d)
	}
	return d, err
}

// directoryDeletionWait bounds how long a sync waits for the previous
// directory of its enterprise to be deleted: the controllers take
// milliseconds; past this, the sync is answered errDirectoryDeleting.
const directoryDeletionWait = 2 * time.Second

// awaitDirectoryGone waits, at most directoryDeletionWait, until the
// directory key is gone. Running out of time is not an error: the caller
// finds the directory still being deleted.
func (r *Receiver) awaitDirectoryGone(ctx context.Context, key types.NamespacedName) error {
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, directoryDeletionWait, true, func(ctx context.Context) (bool, error) {
		err := r.reader.Get(ctx, key, &saasv1alpha1.SaaSDirectory{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
	if wait.Interrupted(err) {
		return nil
	}
	return err
}

// errDirectoryDeleting answers a sync for a directory being deleted, or
// deleted while the sync was writing (its data is going; see controllers'
// saasdirectory_retire.go), with the retryable 000005: once it is gone, the
// retried sync starts a new one.
var errDirectoryDeleting = &callbackError{code: koogallery.ResultInternalError,
	msg: "the enterprise's previous directory is being deleted; retry"}

// editDirectory applies edit to the directory the call changes (see
// directoryFor) and records sync on it. For a removal, a directory deleted
// during the call is the state asked for. For anything else, a directory
// deleted between the read and the write (a delete a moment before, which
// the controllers carried out meanwhile) is not the end: the edit starts
// once more, on the directory that replaces it.
func (r *Receiver) editDirectory(ctx context.Context, c *kitCall, common koogallery.KitCommon, removing bool,
	sync saasv1alpha1.DirectorySync, edit func(*saasv1alpha1.SaaSDirectorySpec) (bool, error)) error {
	for attempt := 1; ; attempt++ {
		d, err := r.directoryFor(ctx, c, common, removing)
		if err != nil || d == nil {
			return err
		}
		err = r.updateDirectory(ctx, c, d, &sync, edit, false)
		switch {
		case !errors.Is(err, errDirectoryDeleting):
			return err
		case removing:
			return nil
		case attempt == 2:
			return err
		}
	}
}

// directoryFor is the directory a kit call changes: for a removal (a
// delete, a cancelled authorisation) the one that exists, or nil, since
// removing from nothing is done already and must create nothing; for
// anything else the one directory creates.
func (r *Receiver) directoryFor(ctx context.Context, c *kitCall, common koogallery.KitCommon, removing bool) (*saasv1alpha1.SaaSDirectory, error) {
	if removing {
		return r.directoryIfExists(ctx, c, common)
	}
	return r.directory(ctx, c, common)
}

// directoryIfExists returns the call's SaaSDirectory, or nil if there is
// none or it is being deleted, without creating one.
func (r *Receiver) directoryIfExists(ctx context.Context, c *kitCall, common koogallery.KitCommon) (*saasv1alpha1.SaaSDirectory, error) {
	c.instanceID = common.InstanceID
	d := &saasv1alpha1.SaaSDirectory{}
	err := r.reader.Get(ctx, types.NamespacedName{Name: DirectoryName(common.InstanceID, common.TenantID)}, d)
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, asInternal(err, "the directory could not be read")
	case !d.DeletionTimestamp.IsZero():
		return nil, nil
	}
	return d, checkDirectory(d, c, common)
}

// newDirectory is created with DirectoryFinalizer, so its shards are
// deleted before it goes, however it is deleted (but with its CRD, when
// they are kept for the directory restored), and marked as storing its
// shards in Secrets: it never had a ConfigMap shard (one of an earlier
// directory of its name went with that directory), so no sync need look
// for one.
func newDirectory(name, product string, common koogallery.KitCommon) *saasv1alpha1.SaaSDirectory {
	return &saasv1alpha1.SaaSDirectory{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue,
			saasv1alpha1.ProductLabel:   product,
		}, Annotations: map[string]string{
			saasv1alpha1.ShardsFormatAnnotation: saasv1alpha1.ShardsFormatSecrets,
		}, Finalizers: []string{saasv1alpha1.DirectoryFinalizer}},
		Spec: saasv1alpha1.SaaSDirectorySpec{
			InstanceID: common.InstanceID, TenantID: common.TenantID, ProductName: product,
			State: saasv1alpha1.DirectoryActive, Mode: modeOf(common.TestFlag),
		},
	}
}

func modeOf(testFlag int) saasv1alpha1.RequestMode {
	if testFlag == 1 {
		return saasv1alpha1.ModeDebug
	}
	return saasv1alpha1.ModeProduction
}

// updateDirectory claims the call on the directory (see replayClaim),
// refusing it if the directory holds its claim already, and applies edit
// to the directory's spec. It stores the claim, the spec and sync as the
// last sync in one write, under the directory's resourceVersion: sync when
// edit changed something or force says to record it anyway (a sync of
// shards, which may have been stored by an earlier attempt of the same
// call); the claim when the directory does not hold it yet. A nil sync
// stores the claim alone. On a conflict it re-reads, checks the claims
// again and edits again: of two replicas given the same call at once, the
// second is refused.
func (r *Receiver) updateDirectory(ctx context.Context, c *kitCall, d *saasv1alpha1.SaaSDirectory, sync *saasv1alpha1.DirectorySync,
	edit func(*saasv1alpha1.SaaSDirectorySpec) (bool, error), force bool) error {
	fresh := false
	err := retry.RetryOnConflict(conflictBackoff, func() error {
		if fresh {
			if err := r.reader.Get(ctx, client.ObjectKeyFromObject(d), d); err != nil {
				return err
			}
			if !d.DeletionTimestamp.IsZero() {
				return errDirectoryDeleting
			}
		}
		fresh = true
		now := r.opts.Now()
		claims := liveClaims(d, now)
		claiming := c.replay.pendingOn(d)
		if claiming && claims.has(c.replay.key) {
			return r.errKitReplayed()
		}
		changed, err := edit(&d.Spec)
		if err != nil {
			return err
		}
		record := sync != nil && (changed || force)
		if !record && !claiming {
			return nil
		}
		if claiming {
			claims = claims.with(c.replay.key, r.claimExpiry(now))
		}
		setClaims(d, claims)
		if record {
			last := *sync
			last.Sequence = 1
			if d.Spec.LastSync != nil {
				last.Sequence = d.Spec.LastSync.Sequence + 1
			}
			d.Spec.LastSync = &last
		}
		if d.Spec.State == saasv1alpha1.DirectoryDeleted && len(claims) > 0 {
			// Written first: once the directory is stored Deleted, the
			// controllers may delete it, and its claims with it.
			if err := r.keepClaims(ctx, d.Name, claims); err != nil {
				return err
			}
		}
		if err := r.client.Update(ctx, d); err != nil {
			return err
		}
		if claiming {
			c.replay.storedOn(d)
		}
		return nil
	})
	switch {
	case errors.Is(err, errDirectoryDeleting) || apierrors.IsNotFound(err):
		return errDirectoryDeleting // deleted since it was read
	case err != nil:
		return asInternal(err, "the directory could not be stored")
	}
	return nil
}

// noEdit leaves the spec alone; the shards carried the change.
func noEdit(*saasv1alpha1.SaaSDirectorySpec) (bool, error) { return false, nil }

// changeShards recomputes a part's shards from their stored state with
// compute and writes those that changed, retrying from a fresh read when
// another replica wrote first. While the part still has ConfigMap shards it
// answers errDirectoryMoving.
func (r *Receiver) changeShards(ctx context.Context, d *saasv1alpha1.SaaSDirectory, part directory.Part,
	compute func(directory.Shards) (directory.Shards, error)) error {
	if err := r.checkNotMoving(ctx, d, part); err != nil {
		return asInternal(err, "the directory could not be read")
	}
	retryable := func(err error) bool { return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) }
	err := retry.OnError(conflictBackoff, retryable, func() error {
		stored, current, err := r.loadShards(ctx, d, part)
		if err != nil {
			return err
		}
		next, err := compute(current)
		if err != nil {
			return err
		}
		return r.writeShards(ctx, d, part, stored, next, directory.WriteOrder(current, next))
	})
	if errors.Is(err, directory.ErrTooLarge) {
		return errBadParam("the tenant's %s exceed kooper's limit", part)
	}
	if err != nil {
		return asInternal(err, "the directory could not be stored")
	}
	return nil
}

// errDirectoryMoving answers 000005 (an internal error: kit calls are not
// retried automatically, spec §1.7, but a buyer's sync again succeeds) while
// a part's shards are being moved out of ConfigMaps.
var errDirectoryMoving = &callbackError{code: koogallery.ResultInternalError,
	msg: "the directory is being moved from ConfigMaps to Secrets; retry"}

// checkNotMoving returns errDirectoryMoving while the part has ConfigMap
// shards, stored before kooper kept shards in Secrets, in the shard
// namespace or in kooper's own (where they were before the directory
// namespace). The directory controller moves them into Secrets when it
// reconciles the directory, which it does for every directory at start. A
// change computed before then would start from the Secrets alone, a partial
// set or none, and the move keeps a Secret over the ConfigMap of its name:
// users would be lost. Only metadata is listed, through the API reader.
//
// A directory marked ShardsInSecrets (created by this version, or moved by
// the controller) is not listed for: that would be one more API request per
// sync, for ever after the upgrade. No ConfigMap shard can appear after the
// mark, since this version's receiver may not write ConfigMaps, and
// `helm upgrade` takes that right from the earlier receivers before the
// controllers of this version start.
func (r *Receiver) checkNotMoving(ctx context.Context, d *saasv1alpha1.SaaSDirectory, part directory.Part) error {
	if d.ShardsInSecrets() {
		return nil
	}
	for _, namespace := range r.legacyShardNamespaces() {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMapList"))
		err := r.reader.List(ctx, list, client.InNamespace(namespace), client.Limit(1),
			client.MatchingLabels{saasv1alpha1.DirectoryLabel: d.Name, saasv1alpha1.DirectoryPartLabel: string(part)})
		if err != nil {
			return err
		}
		if len(list.Items) > 0 {
			return errDirectoryMoving
		}
	}
	return nil
}

// legacyShardNamespaces are where ConfigMap shards may remain from earlier
// versions: the shard namespace, and kooper's own.
func (r *Receiver) legacyShardNamespaces() []string {
	if r.shardNamespace() == r.opts.Namespace {
		return []string{r.opts.Namespace}
	}
	return []string{r.shardNamespace(), r.opts.Namespace}
}

// loadShards reads a part's shards from the API server: they are not cached,
// since a directory can be megabytes and is read only when a sync arrives.
func (r *Receiver) loadShards(ctx context.Context, d *saasv1alpha1.SaaSDirectory, part directory.Part) (map[int]*corev1.Secret, directory.Shards, error) {
	list := &corev1.SecretList{}
	err := r.reader.List(ctx, list, client.InNamespace(r.shardNamespace()),
		client.MatchingLabels{saasv1alpha1.DirectoryLabel: d.Name, saasv1alpha1.DirectoryPartLabel: string(part)})
	if err != nil {
		return nil, nil, err
	}
	stored, shards := map[int]*corev1.Secret{}, directory.Shards{}
	for i := range list.Items {
		s := &list.Items[i]
		if !saasv1alpha1.ShardBelongsTo(s, d) {
			if err := r.deleteStaleShard(ctx, s); err != nil {
				return nil, nil, err
			}
			continue
		}
		for key, data := range s.Data {
			index, ok := directory.ParseDataKey(part, key)
			if !ok {
				continue
			}
			entries, err := directory.Decode(part, string(data))
			if err != nil {
				return nil, nil, fmt.Errorf("shard %s is corrupt: %w", s.Name, err)
			}
			stored[index], shards[index] = s, entries
		}
	}
	return stored, shards, nil
}

// deleteStaleShard deletes a shard written for an earlier directory of the
// same name (while that one was being deleted): its users are not this
// directory's, and its name is needed.
func (r *Receiver) deleteStaleShard(ctx context.Context, s *corev1.Secret) error {
	rv := s.ResourceVersion
	return client.IgnoreNotFound(r.client.Delete(ctx, s, client.Preconditions{ResourceVersion: &rv}))
}

// writeShards stores next, shard by shard in order (directory.WriteOrder:
// a shard gaining entries before the one losing them, so a write stopped
// half-way leaves a moved entry twice, which the next change cleans up,
// never nowhere): updates (with the read resourceVersion, so a concurrent
// writer causes a conflict, not a lost update), creates and deletes.
func (r *Receiver) writeShards(ctx context.Context, d *saasv1alpha1.SaaSDirectory, part directory.Part,
	stored map[int]*corev1.Secret, next directory.Shards, order []int) error {
	for _, i := range order {
		if err := r.writeShard(ctx, d, part, i, stored[i], next[i]); err != nil {
			return err
		}
	}
	return nil
}

// writeShard stores one shard as an Opaque Secret: users carry personal
// data, which must not sit in a ConfigMap anyone with the view role reads.
// A new shard is marked as written for d (saasv1alpha1.ShardDirectoryUIDAnnotation); an
// existing one keeps the mark it was read with, so a shard kept for no
// directory in particular stays so even if the CRD deletion that left it so
// raced this write.
func (r *Receiver) writeShard(ctx context.Context, d *saasv1alpha1.SaaSDirectory, part directory.Part, index int,
	shard *corev1.Secret, entries []directory.Entry) error {
	if entries == nil {
		if shard == nil {
			return nil
		}
		rv := shard.ResourceVersion
		err := r.client.Delete(ctx, shard, client.Preconditions{ResourceVersion: &rv})
		return client.IgnoreNotFound(err)
	}
	create := shard == nil
	if create {
		shard = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
			Namespace: r.shardNamespace(), Name: ShardName(d.Name, part, index),
			Labels: map[string]string{
				saasv1alpha1.ManagedByLabel:     saasv1alpha1.ManagedByValue,
				saasv1alpha1.DirectoryLabel:     d.Name,
				saasv1alpha1.DirectoryPartLabel: string(part),
			},
			Annotations: map[string]string{saasv1alpha1.ShardDirectoryUIDAnnotation: string(d.ShardOwnerID())},
		}, Type: corev1.SecretTypeOpaque}
	}
	shard.Data = map[string][]byte{directory.DataKey(part, index): []byte(directory.Encode(entries))}
	metav1.SetMetaDataAnnotation(&shard.ObjectMeta, saasv1alpha1.DirectoryCountAnnotation, strconv.Itoa(len(entries)))
	if create {
		return r.client.Create(ctx, shard)
	}
	return r.client.Update(ctx, shard)
}

// Replay claims. The nonce memo (verify.go) is one replica's and is lost
// on a restart, and a kit call's timestamp is accepted for the signature
// window in either direction: the same signed sync, replayed within it on
// another replica (a proxy retrying a POST, a rolling update, anyone who
// captured it behind the TLS-terminating Ingress), passes verification
// again. Kit syncs are not commutative (an add replayed after the
// cancellation that followed it admits a cancelled user) and are never
// retried, so nothing would correct it. Each kit call that changes a
// directory therefore claims itself on the directory, in the API server,
// before or with its change, under the directory's resourceVersion; a call
// whose claim the directory holds is refused as a replay, on every replica.
// Kit syncs are made by people, so the claims are few.
const (
	// kitClaimsAnnotation on a SaaSDirectory, and on its tombstone, holds
	// its live claims as JSON: [{"key":"<hex>","until":<Unix seconds>}].
	// It is metadata, not spec: writing it neither bumps the generation
	// nor changes what the controllers deliver (the delivery hash covers
	// the whole spec), so a claim written alone costs them nothing.
	kitClaimsAnnotation = "saas.kooper.io/kit-claims"
	// directoryTombstoneLabel marks a directory's tombstone, with the
	// directory's name as its value (see keepClaims).
	directoryTombstoneLabel = "saas.kooper.io/deleted-directory"
	// maxKitClaims bounds a directory's claims, about 60 bytes each: 256
	// are more than a person's syncs of one enterprise within twice the
	// window (an authSync carries up to 500 users, so 128,000 users). Past
	// it the claims closest to their end are dropped: a sync is never
	// refused for want of room, since nobody would retry it, and this
	// replica's memo still refuses their replays here.
	maxKitClaims = 256
	// replayClaimKeyBytes is the length of a claim's key, a truncated
	// SHA-256 of the call's replay key: 128 bits, no collision between the
	// few claims of one directory.
	replayClaimKeyBytes = 16
)

// replayClaim is a kit call's claim against its replays (kitReplayClaim).
type replayClaim struct {
	// key is the claim's key; "" when replays are not refused
	// (Options.RefuseReusedNonces off), and nothing is claimed.
	key string
	// on is the directory that holds the claim, once stored there.
	on types.UID
}

// pendingOn reports whether the claim is still to be stored on d.
func (rc replayClaim) pendingOn(d *saasv1alpha1.SaaSDirectory) bool {
	return rc.key != "" && rc.on != d.UID
}

// storedOn records that d holds the claim.
func (rc *replayClaim) storedOn(d *saasv1alpha1.SaaSDirectory) {
	if rc.key != "" {
		rc.on = d.UID
	}
}

// kitClaim is one claim as kitClaimsAnnotation holds it.
type kitClaim struct {
	Key string `json:"key"`
	// Until is when a replay of the call can no longer pass the signature
	// window anywhere: twice the window after it was stored, in Unix
	// seconds rounded up.
	Until int64 `json:"until"`
}

type kitClaims []kitClaim

// claimExpiry is the Until of a claim stored at now: its replay may carry a
// timestamp up to the window ahead of now, which is accepted for the window
// after it (the nonce memo keeps its nonces as long).
func (r *Receiver) claimExpiry(now time.Time) int64 {
	return now.Add(2*r.opts.SignatureWindow).Unix() + 1
}

// liveClaims are the claims obj holds that have not ended at now. A value
// that does not parse (edited by hand) holds none: it cannot say which
// calls to refuse, and the next write replaces it.
func liveClaims(obj metav1.Object, now time.Time) kitClaims {
	var claims kitClaims
	if err := json.Unmarshal([]byte(obj.GetAnnotations()[kitClaimsAnnotation]), &claims); err != nil {
		return nil
	}
	return slices.DeleteFunc(claims, func(k kitClaim) bool { return now.Unix() >= k.Until })
}

func (cs kitClaims) has(key string) bool {
	return slices.ContainsFunc(cs, func(k kitClaim) bool { return k.Key == key })
}

// with is cs and key, until until, within maxKitClaims; adding a key cs
// has keeps the later end.
func (cs kitClaims) with(key string, until int64) kitClaims {
	out := slices.Clone(cs)
	if i := slices.IndexFunc(out, func(k kitClaim) bool { return k.Key == key }); i >= 0 {
		out[i].Until = max(out[i].Until, until)
		return out
	}
	out = append(out, kitClaim{Key: key, Until: until})
	if len(out) > maxKitClaims {
		slices.SortStableFunc(out, func(a, b kitClaim) int { return cmp.Compare(a.Until, b.Until) })
		out = out[len(out)-maxKitClaims:]
	}
	return out
}

// setClaims stores cs on obj, or removes the annotation when cs is empty.
func setClaims(obj metav1.Object, cs kitClaims) {
	annotations := obj.GetAnnotations()
	if len(cs) == 0 {
		delete(annotations, kitClaimsAnnotation)
		obj.SetAnnotations(annotations)
		return
	}
	if annotations == nil {
		annotations = map[string]string{}
	}
	data, _ := json.Marshal(cs) // strings and integers always encode
	annotations[kitClaimsAnnotation] = string(data)
	obj.SetAnnotations(annotations)
}

// errKitReplayed answers a kit call whose claim its directory holds: it
// was stored within the window, by another replica or by this one before
// a restart. The answer is the one this replica's memo gives (verifyKit).
func (r *Receiver) errKitReplayed() error {
	return errBadParam("x-nonce was already used within the %s window", r.opts.SignatureWindow)
}

// claimNewDirectory puts on d, a directory about to be created, the call's
// claim and those its tombstone keeps of the directory of the same name
// deleted within the window, and refuses a call the tombstone claims: the
// replay of a sync stored before the enterprise was deleted, which would
// otherwise create the directory again with users' data the enterprise
// deleted.
func (r *Receiver) claimNewDirectory(ctx context.Context, c *kitCall, d *saasv1alpha1.SaaSDirectory) error {
	if c.replay.key == "" {
		return nil
	}
	tombstone, err := r.readTombstone(ctx, d.Name)
	if err != nil {
		return err
	}
	now := r.opts.Now()
	var claims kitClaims
	if tombstone != nil {
		claims = liveClaims(tombstone, now)
	}
	if claims.has(c.replay.key) {
		return r.errKitReplayed()
	}
	setClaims(d, claims.with(c.replay.key, r.claimExpiry(now)))
	return nil
}

// A directory stored Deleted (tenantSync flag 0) is deleted by the
// controllers at once, and its claims with it, while a replay of a sync
// stored before may still pass the window. So its claims are first kept in
// its tombstone: a Secret "<directory>-claims" in the directory namespace
// (where the receiver may write only Secrets), labelled
// directoryTombstoneLabel and not managed-by, so neither the controllers'
// caches nor their shard lists see it. It holds no data, only
// kitClaimsAnnotation. A directory created under the name starts with the
// tombstone's live claims and refuses the calls they name.
//
// The tombstone names the calls, rather than the time of the delete (and a
// rule refusing any call signed before it): the kit's timestamps come from
// the marketplace's clocks, and a legitimate add sent just after a delete
// must not be refused for a skew between them.

func tombstoneName(directoryName string) string { return directoryName + "-claims" }

// readTombstone returns the directory's tombstone, or nil if it has none.
// The receiver may list, not get, Secrets in the directory namespace; a
// list by name is one read of one object.
func (r *Receiver) readTombstone(ctx context.Context, directoryName string) (*corev1.Secret, error) {
	list := &corev1.SecretList{}
	err := r.reader.List(ctx, list, client.InNamespace(r.shardNamespace()),
		client.MatchingFields{"metadata.name": tombstoneName(directoryName)},
		client.MatchingLabels{directoryTombstoneLabel: directoryName})
	if err != nil || len(list.Items) == 0 {
		return nil, err
	}
	return &list.Items[0], nil
}

// keepClaims adds claims to the directory's tombstone, then deletes the
// tombstones whose claims have all ended (sweepTombstones).
func (r *Receiver) keepClaims(ctx context.Context, directoryName string, claims kitClaims) error {
	retryable := func(err error) bool { return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) }
	err := retry.OnError(conflictBackoff, retryable, func() error {
		tombstone, err := r.readTombstone(ctx, directoryName)
		if err != nil {
			return err
		}
		if tombstone == nil {
			tombstone = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
				Namespace: r.shardNamespace(), Name: tombstoneName(directoryName),
				Labels: map[string]string{directoryTombstoneLabel: directoryName},
			}, Type: corev1.SecretTypeOpaque}
			setClaims(tombstone, claims)
			return r.client.Create(ctx, tombstone)
		}
		kept := liveClaims(tombstone, r.opts.Now())
		for _, k := range claims {
			kept = kept.with(k.Key, k.Until)
		}
		setClaims(tombstone, kept)
		return r.client.Update(ctx, tombstone)
	})
	if err != nil {
		return fmt.Errorf("failed to keep the claims of directory %s: %w", directoryName, err)
	}
	r.sweepTombstones(ctx, directoryName)
	return nil
}

// sweepTombstones deletes the tombstones, but except's, whose claims have
// all ended, so there are never more than those of the directories
// deleted within twice the window before the last delete. A failure is
// only logged: the call's own tombstone is stored, and the next delete
// sweeps again.
func (r *Receiver) sweepTombstones(ctx context.Context, except string) {
	list := &corev1.SecretList{}
	err := r.reader.List(ctx, list, client.InNamespace(r.shardNamespace()), client.HasLabels{directoryTombstoneLabel})
	now := r.opts.Now()
	for i := range list.Items {
		if err != nil {
			break
		}
		tombstone := &list.Items[i]
		if tombstone.Labels[directoryTombstoneLabel] == except || len(liveClaims(tombstone, now)) > 0 {
			continue
		}
		rv := tombstone.ResourceVersion
		err = client.IgnoreNotFound(r.client.Delete(ctx, tombstone, client.Preconditions{ResourceVersion: &rv}))
		if apierrors.IsConflict(err) {
			err = nil // claimed again meanwhile
		}
	}
	if err != nil {
		ctrl.LoggerFrom(ctx).WithName("receiver").V(1).Info("Sweeping ended directory tombstones failed", "error", err.Error())
	}
}
