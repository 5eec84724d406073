package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	ctrl "sigs.k8s.io/controller-runtime"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/directory"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// maxApplications is the API's bound on spec.applications.
const maxApplications = 16

// Each kit handler is idempotent per the kit's keys (spec §1.8): add and
// modify both set the entry, delete and cancel-authorisation both remove
// it, and a delete of something absent succeeds. Each answers only once
// the change is stored. Idempotent is not enough against replays: an add
// and a delete of the same entry do not commute, so an add replayed after
// the delete that followed it undoes the delete. Each call that changes a
// directory therefore claims itself on it first (replayClaim), and a call
// the directory has claimed is refused.

func (r *Receiver) newSync(c *kitCall, flag koogallery.KitFlag, items int) saasv1alpha1.DirectorySync {
	return saasv1alpha1.DirectorySync{Interface: saasv1alpha1.KitInterface(c.name), Flag: int32(flag),
		Items: int32(items), ReceivedTime: r.now()}
}

// tenantSync binds, updates or deletes the enterprise. Deleting marks the
// directory Deleted; the controllers then delete it with its users' data.
func (r *Receiver) tenantSync(ctx context.Context, c *kitCall) error {
	req := c.request.(*koogallery.TenantSyncRequest)
	c.orderID = req.OrderID
	removing := req.Flag == koogallery.KitDelete
	return r.editDirectory(ctx, c, req.KitCommon, removing, r.newSync(c, req.Flag, 0), func(s *saasv1alpha1.SaaSDirectorySpec) (bool, error) {
		before := s.DeepCopy()
		if removing {
			s.State = saasv1alpha1.DirectoryDeleted
		} else {
			s.State, s.Mode = saasv1alpha1.DirectoryActive, modeOf(req.TestFlag)
			s.TenantCode, s.Name, s.DomainName, s.OrderID = req.TenantCode, req.Name, req.DomainName, req.OrderID
		}
		return !equalSpec(before, s), nil
	})
}

// applicationSync stores an application's OAuth client. clientSecret is
// checked to decrypt now, so a wrong key is answered at once (with
// Options.ClientSecretErrorCode), but it is stored encrypted; the controller
// decrypts it into the tenant's Secret.
func (r *Receiver) applicationSync(ctx context.Context, c *kitCall) error {
	req := c.request.(*koogallery.ApplicationSyncRequest)
	var app saasv1alpha1.DirectoryApplication
	if req.Flag != koogallery.KitDelete {
		used, err := r.checkClientSecret(ctx, c, req.ClientSecret)
		if err != nil {
			// A refusal decided on the cached keys Secret is decided again
			// on the stored one: its rsaPrivateKey may just have been added.
			if c.secret, err = r.storedKeysSecret(ctx, c.product); err != nil {
				return err
			}
			used, err = r.checkClientSecret(ctx, c, req.ClientSecret)
		}
		if err != nil {
			return err
		}
		app = saasv1alpha1.DirectoryApplication{AppID: req.AppID, ClientID: req.ClientID,
			EncryptedClientSecret: req.ClientSecret, OAEPHash: string(used)}
	}
	removing := req.Flag == koogallery.KitDelete
	return r.editDirectory(ctx, c, req.KitCommon, removing, r.newSync(c, req.Flag, 0), func(s *saasv1alpha1.SaaSDirectorySpec) (bool, error) {
		before := s.DeepCopy()
		s.Applications = slices.DeleteFunc(s.Applications, func(a saasv1alpha1.DirectoryApplication) bool { return a.AppID == req.AppID })
		if !removing {
			if len(s.Applications) >= maxApplications {
				return false, errBadParam("the tenant already has %d applications", maxApplications)
			}
			s.Applications = append(s.Applications, app)
		}
		return !equalSpec(before, s), nil
	})
}

// checkClientSecret decrypts clientSecret with the product's RSA key, trying
// the configured OAEP variants, and returns the one that worked.
func (r *Receiver) checkClientSecret(ctx context.Context, c *kitCall, ciphertext string) (koogallery.OAEPHash, error) {
	key, err := rsaKey(c.secret)
	if err != nil {
		return "", err
	}
	_, used, err := koogallery.DecryptClientSecret(key, ciphertext, r.opts.OAEPHashes)
	if err != nil {
		return "", &callbackError{code: r.opts.ClientSecretErrorCode, err: err, msg: clientSecretRefusal(err)}
	}
	// The spec asks to record which variant the marketplace uses (§4.2).
	ctrl.LoggerFrom(ctx).WithName("receiver").V(1).Info("Decrypted clientSecret", "product", c.product.Name, "oaepHash", string(used))
	return used, nil
}

// clientSecretRefusal is the answer's message for a clientSecret that
// koogallery.DecryptClientSecret refused with err, which never quotes the
// secret: one that is not Base64 no key would decrypt, so only a failure to
// decrypt sends the merchant to the key.
func clientSecretRefusal(err error) string {
	if errors.Is(err, koogallery.ErrNotBase64) {
		return "clientSecret cannot be decrypted: it is not Base64"
	}
	return "clientSecret cannot be decrypted with the product's RSA key; register the public key of its rsaPrivateKey in the Seller Console"
}

// authSync authorises, updates or removes a batch of users. Each user is
// an authorisation of its own (spec §1.8 keys it by userName), so the users
// that can be applied are, and the others are answered 000002 by index: one
// bad entry neither holds up the rest, which a cancellation would leave
// admitted, nor is dropped under a success.
func (r *Receiver) authSync(ctx context.Context, c *kitCall) error {
	req := c.request.(*koogallery.AuthSyncRequest)
	removing := req.Removing()
	refused := req.Refused
	var ch directory.Change
	for _, u := range req.Users {
		key := directory.UserKey(req.AppID, u.UserName)
		if removing {
			ch.Deletes = append(ch.Deletes, key)
			continue
		}
		// The user is stored with every field sent (compact, UTF-8), with the request's appId as its only
		// one (WithField drops the user's own, in any spelling), and must
		// read back under the key computed here: a later sync finds it
		// there, and a cancellation removes it.
		item, err := directory.WithField(u.Raw, "appId", req.AppID)
		if err == nil {
			var stored string
			if stored, err = directory.KeyOf(directory.Users, item); err == nil && stored != key {
				err = errors.New("read back under another key")
			}
		}
		if err != nil {
			refused = append(refused, &koogallery.ValidationError{Field: fmt.Sprintf("userList[%d]", u.Index),
				Reason: "cannot be stored under its appId and userName"})
			continue
		}
		ch.Upserts = append(ch.Upserts, directory.Entry{Key: key, JSON: item})
	}
	refusal := koogallery.UsersNotApplied(refused, len(req.Users)+len(req.Refused))
	applied := len(ch.Deletes) + len(ch.Upserts)
	if applied == 0 && refusal != nil {
		return refusal
	}
	err := r.syncShards(ctx, c, req.KitCommon, removing, r.newSync(c, req.Flag, applied), directory.Users,
		func(current directory.Shards) (directory.Shards, error) { return directory.Apply(current, ch) })
	if err != nil {
		return err
	}
	return refusal
}

// singleOrgSync adds, updates or removes one department.
func (r *Receiver) singleOrgSync(ctx context.Context, c *kitCall) error {
	req := c.request.(*koogallery.SingleOrgSyncRequest)
	var ch directory.Change
	if req.Flag == koogallery.KitDelete {
		ch.Deletes = []string{req.OrgCode}
	} else {
		ch.Upserts = []directory.Entry{orgEntry(req.KitOrg)}
	}
	return r.syncShards(ctx, c, req.KitCommon, req.Flag == koogallery.KitDelete, r.newSync(c, req.Flag, 1), directory.Departments,
		func(current directory.Shards) (directory.Shards, error) { return directory.Apply(current, ch) })
}

// allOrgSync replaces the whole department tree.
func (r *Receiver) allOrgSync(ctx context.Context, c *kitCall) error {
	req := c.request.(*koogallery.AllOrgSyncRequest)
	entries := make([]directory.Entry, 0, len(req.Orgs))
	for _, o := range req.Orgs {
		entries = append(entries, orgEntry(o))
	}
	return r.syncShards(ctx, c, req.KitCommon, false, r.newSync(c, -1, len(req.Orgs)), directory.Departments,
		func(current directory.Shards) (directory.Shards, error) { return directory.Replace(current, entries) })
}

// syncShards claims the call on the directory, stores a change of users or
// departments, then records the sync on the directory, which makes the
// controller deliver. The claim is stored first, alone, unless creating
// the directory stored it: a replay of the call (on another replica, or
// after a restart, within the signature window) is refused before it
// touches a shard, and of two replicas given the same call at once only
// the one whose claim is stored changes the shards. Stored with the
// record instead, the claim would come too late: a replay that read the
// directory before the original's record could write its shards after a
// later sync's, and undo it. The claim is metadata, so its write costs the
// controllers nothing (see replayClaim).
//
// It records every sync, even one that finds the shards already as asked:
// that may be the marketplace's retry of a call whose shards were stored
// but whose record was not (the process died, the record's write failed),
// and nothing else would deliver them. Syncs are made by people, so the
// extra updates are rare. Once the shards changed, the record is made even
// if the call's deadline passes or its client hangs up. A removal from a
// directory kooper does not have stores nothing.
func (r *Receiver) syncShards(ctx context.Context, c *kitCall, common koogallery.KitCommon, removing bool,
	sync saasv1alpha1.DirectorySync, part directory.Part, compute func(directory.Shards) (directory.Shards, error)) error {
	d, err := r.directoryFor(ctx, c, common, removing)
	if err != nil || d == nil {
		return err
	}
	err = r.updateDirectory(ctx, c, d, nil, noEdit, false)
	if err == nil {
		err = r.changeShards(ctx, d, part, compute)
	}
	if err == nil {
		// The shards hold the change: only the record makes the
		// controllers deliver it, and a resend of the call is refused as a
		// replay. So the record (and, if the directory went meanwhile, the
		// deletion of what was written) is finished even when the call's
		// deadline passes or its client hangs up, within an API timeout of
		// its own.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), r.opts.APITimeout)
		defer cancel()
		err = r.updateDirectory(ctx, c, d, &sync, noEdit, true)
	}
	if errors.Is(err, errDirectoryDeleting) {
		// The directory went meanwhile: the controllers may have deleted its
		// shards before this call wrote them, and nothing would delete what
		// it wrote (users' phone numbers and e-mails) but a later sync of
		// the same enterprise, which may never come.
		if dropErr := r.dropShards(ctx, d, part); dropErr != nil {
			return asInternal(dropErr, "the directory's shards could not be deleted")
		}
		if removing {
			return nil // with what was to be removed
		}
	}
	return err
}

// dropShards deletes the part's shards that belong to d, a directory
// deleted since this call read it.
func (r *Receiver) dropShards(ctx context.Context, d *saasv1alpha1.SaaSDirectory, part directory.Part) error {
	stored, _, err := r.loadShards(ctx, d, part)
	if err != nil {
		return err
	}
	for _, s := range stored {
		if err := r.deleteStaleShard(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// orgEntry is a department as stored: orgCode, orgName, parentCode.
func orgEntry(o koogallery.KitOrg) directory.Entry {
	data, _ := json.Marshal(o) // a struct of strings always encodes
	return directory.Entry{Key: o.OrgCode, JSON: data}
}

func equalSpec(a, b *saasv1alpha1.SaaSDirectorySpec) bool {
	return a.State == b.State && a.Mode == b.Mode && a.TenantCode == b.TenantCode && a.Name == b.Name &&
		a.DomainName == b.DomainName && a.OrderID == b.OrderID && slices.Equal(a.Applications, b.Applications)
}
