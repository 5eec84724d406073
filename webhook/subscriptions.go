package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/orders"
	"github.com/kooper-io/kooper/internal/tombstone"
)

// instanceID derives the instance ID, which is also the object's name, from
// the order line's idempotency key (spec §1.8): the same order line always
// gives the same ID, so a repeated or concurrent newInstance hits
// AlreadyExists. 80 bits of SHA-256 keep it short enough for the tenant
// namespace name; a collision is detected and refused (see newInstance).
// When another product already holds this ID, the purchase takes
// productInstanceID instead (see purchaseID).
func instanceID(orderID, orderLineID string) string {
	return "i-" + shortHash(orderID, orderLineID)
}

// productInstanceID is the instance ID of product's purchase of an order
// line whose instanceID another product already holds. Order lines are
// unique in the marketplace, but the Seller Console's debugging tool sends
// the same mock orders (MOCKPERIODYEARNEW-000001, spec §1.9) to every
// product of the merchant, and each must get an instance of its own.
func productInstanceID(product, orderID, orderLineID string) string {
	return "i-" + shortHash(product, orderID, orderLineID)
}

// licenseApplicationName names the License of one getLicenseAsync
// application, keyed by eventId and device fingerprint (spec §1.8). When
// another instance's application already holds the name, the application
// takes productApplicationName instead (see storeApplication).
func licenseApplicationName(eventID, fingerprint string) string {
	return "l-" + shortHash(eventID, fingerprint)
}

// productApplicationName names an application whose licenseApplicationName
// another instance's application holds (the debugging tool's replayed
// events, spec §1.9): the key then includes the product and the instance.
func productApplicationName(product, instanceID, eventID, fingerprint string) string {
	return "l-" + shortHash(product, instanceID, eventID, fingerprint)
}

func shortHash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:20]
}

// subscription is the part of a SaaSTenant or License spec the callbacks
// change, so each handler is written once for both kinds. Its fields point
// into object.
type subscription struct {
	object      client.Object
	productName *string
	orderID     *string
	orderLineID *string
	state       *saasv1alpha1.SubscriptionState
	orders      *[]saasv1alpha1.AppliedOrder
	expireTime  **metav1.Time
	// lastUnfreeze is spec.lastUnfreezeTime (rule F).
	lastUnfreeze **metav1.Time
	// mode is spec.mode: Debug for a purchase the debugging tool made.
	mode *saasv1alpha1.RequestMode
	// orderTimes is status.orderTimes, read only: the creation times the
	// plan and the expiry are derived by, which addOrder needs to tell which
	// order of a full list they do not depend on.
	orderTimes *[]saasv1alpha1.OrderTime
}

// newSubscription returns an empty object of the kind product's instances
// are: a License for a License product, a SaaSTenant otherwise.
func newSubscription(product *saasv1alpha1.SaaSProduct) subscription {
	if product.Spec.Type == saasv1alpha1.ProductTypeLicense {
		l := &saasv1alpha1.License{}
		return subscription{object: l, productName: &l.Spec.ProductName, orderID: &l.Spec.OrderID, orderLineID: &l.Spec.OrderLineID,
			state: &l.Spec.State, orders: &l.Spec.Orders, expireTime: &l.Spec.NotAfter, lastUnfreeze: &l.Spec.LastUnfreezeTime,
			mode: &l.Spec.Mode, orderTimes: &l.Status.OrderTimes}
	}
	t := &saasv1alpha1.SaaSTenant{}
	return subscription{object: t, productName: &t.Spec.ProductName, orderID: &t.Spec.OrderID, orderLineID: &t.Spec.OrderLineID,
		state: &t.Spec.State, orders: &t.Spec.Orders, expireTime: &t.Spec.ExpireTime, lastUnfreeze: &t.Spec.LastUnfreezeTime,
		mode: &t.Spec.Mode, orderTimes: &t.Status.OrderTimes}
}

// maxOrders is the API's bound on spec.orders.
const maxOrders = 256

func (s subscription) hasOrder(orderID string) bool {
	for _, o := range *s.orders {
		if o.OrderID == orderID {
			return true
		}
	}
	return false
}

// addOrder records an order. When the list is full, the oldest order the
// plan and the expiry do not depend on is dropped (unneededOrder): a repeat
// of an order that old is long outside every marketplace retry window, and
// the controller drops its status.orderTimes entry (orders.KeepRecorded).
func (s subscription) addOrder(order saasv1alpha1.AppliedOrder) {
	list := append(*s.orders, order)
	for len(list) > maxOrders {
		at := unneededOrder(list, orders.RecordedTimes(*s.orderTimes))
		list = slices.Delete(list, at, at+1)
	}
	*s.orders = list
}

// unneededOrder returns the index in list of the oldest order whose removal
// leaves the plan (docs/lifecycle.md rule P) and the expiry (rule E) as
// they are, so never the order that selects the plan, the refund that took
// a later change of plan back, or the order whose expiry is in force. The
// purchase always stays, and so does the last order, the one being
// recorded: its callback is answered as applied. Should every other order
// count, the oldest after the purchase goes.
func unneededOrder(list []saasv1alpha1.AppliedOrder, times map[string]time.Time) int {
	plan, expiry := planAndExpiry(list, times)
	oldest := -1
	for at := range list[:len(list)-1] {
		if list[at].Activity == saasv1alpha1.ActivityNewInstance {
			continue
		}
		if oldest < 0 {
			oldest = at
		}
		without := slices.Delete(slices.Clone(list), at, at+1)
		if p, e := planAndExpiry(without, times); p == plan && e.Equal(expiry) {
			return at
		}
	}
	return oldest
}

// planAndExpiry are what the controller derives from a subscription's
// orders: the orderId of the order that selects the plan, and the expiry
// the orders set (nil when none does).
func planAndExpiry(list []saasv1alpha1.AppliedOrder, times map[string]time.Time) (string, *metav1.Time) {
	return orders.PlanOrder(list, "", "", times).OrderID, orders.ExpiryInForce(nil, nil, list, times)
}

var errInvalidName = errors.New("not a valid object name")

// getConfirmed reads from the cache and, on a miss, from the API server
// itself: an object created a moment ago (by this replica or another) may
// not be cached yet, and "does not exist" must never rest on a stale cache.
func getConfirmed(ctx context.Context, cached client.Client, reader client.Reader, key types.NamespacedName, obj client.Object) error {
	if len(validation.IsDNS1123Subdomain(key.Name)) > 0 {
		return errInvalidName
	}
	err := cached.Get(ctx, key, obj)
	if apierrors.IsNotFound(err) {
		err = reader.Get(ctx, key, obj)
	}
	return err
}

// find returns instance id of product, errGone when kooper issued it and
// its record is gone, or errInstanceNotFound. fresh reads from the API server
// rather than the cache (to confirm a no-op, or after a conflict); "not
// found" is always confirmed there and with the tombstones.
func (r *Receiver) find(ctx context.Context, product *saasv1alpha1.SaaSProduct, id string, fresh bool) (subscription, error) {
	if len(validation.IsDNS1123Subdomain(id)) > 0 {
		return subscription{}, errInstanceNotFound(id)
	}
	s := newSubscription(product)
	key := types.NamespacedName{Name: id}
	var err error
	if fresh {
		err = r.reader.Get(ctx, key, s.object)
	} else {
		err = getConfirmed(ctx, r.client, r.reader, key, s.object)
	}
	switch {
	case apierrors.IsNotFound(err) || errors.Is(err, errInvalidName):
		return subscription{}, r.unknown(ctx, product, id)
	case err != nil:
		return subscription{}, errInternal("the instance cannot be read", err)
	case *s.productName != product.Name:
		return subscription{}, errAnotherProductsInstance(id)
	}
	return s, nil
}

// unknown tells an id kooper never issued (000003) from one whose record is
// gone (errGone) or was lost with its CRD (000005), by the tombstones as the
// API server holds them.
func (r *Receiver) unknown(ctx context.Context, product *saasv1alpha1.SaaSProduct, id string) error {
	entry, ok, err := tombstone.Lookup(ctx, r.reader, r.opts.Namespace, id)
	switch {
	case err != nil:
		return errInternal("the issued instances cannot be read", err)
	case ok && entry.Product == product.Name && entry.LostWithCRD:
		return errLostWithCRD(string(entry.Kind), id)
	case ok && entry.Product == product.Name:
		return &goneError{id: id}
	}
	return errInstanceNotFound(id)
}

// conflictBackoff spreads retries of concurrent callbacks on one instance
// (say, a burst of renewals) over up to about a second, within APITimeout.
var conflictBackoff = wait.Backoff{Steps: 12, Duration: 5 * time.Millisecond, Factor: 1.5, Jitter: 1, Cap: 200 * time.Millisecond}

// update applies change to instance id of c's product and stores it, with
// optimistic concurrency: on a conflict it re-reads the object from the API
// server and applies change again, so two callbacks racing on one instance
// both land exactly once. change reports whether it changed anything. A
// change computed on the cache that changes nothing, or refuses, is computed
// again on the object as the API server holds it before it is answered: the
// cache may lag the previous callback's write (docs/lifecycle.md rule A).
//
// A debug request (debugRequest: testFlag "1") changes only a Debug
// instance: one naming a Production instance is answered 000000 and stores
// nothing (debugOnProduction), since debug requests are processed against
// test data (spec §1.9) and a saved debug case naming a real buyer's
// instance, replayed by the dial test, would otherwise release or freeze
// it. A production request changes a Debug instance as any other: only the
// debugging tool knows a Debug instance's ID, and a real callback is never
// dropped on a guess.
func (r *Receiver) update(ctx context.Context, c *call, id string, debugRequest bool, change func(subscription) (bool, error)) error {
	fresh := false
	var production client.Object
	// A conflict, or a record deleted since the cache saw it, is computed
	// again from the API server's state (which the tombstones complete).
	stale := func(err error) bool { return apierrors.IsConflict(err) || apierrors.IsNotFound(err) }
	err := retry.OnError(conflictBackoff, stale, func() error {
		for {
			s, err := r.find(ctx, c.product, id, fresh)
			if err != nil {
				return err
			}
			// spec.mode is immutable, so the cache's copy decides this.
			if debugRequest && *s.mode != saasv1alpha1.ModeDebug {
				production = s.object
				return nil
			}
			changed, err := change(s)
			if (err != nil || !changed) && !fresh {
				fresh = true
				continue
			}
			fresh = true
			if err != nil || !changed {
				return err
			}
			return r.client.Update(ctx, s.object)
		}
	})
	if err != nil {
		return asInternal(err, "the change could not be stored")
	}
	if production != nil {
		r.debugOnProduction(c, production)
	}
	return nil
}

// debugOnProduction records that c, a debug request, named a Production
// instance and was answered without change: a field on the call's audit
// line, and an Event on the instance for the merchant, whose saved debug
// case names a real buyer's instance.
func (r *Receiver) debugOnProduction(c *call, instance client.Object) {
	c.log = c.log.WithValues("debugRequestIgnored", true)
	r.event(instance, corev1.EventTypeWarning, saasv1alpha1.DebugRequestIgnoredReason,
		fmt.Sprintf("%s with testFlag 1 answered 000000 and not applied: the instance is a Production one, and debug requests change only "+
			"Debug instances (spec §1.9); a Seller Console debug case names it", c.activity))
}
