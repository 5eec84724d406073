package main

import (
	"context"
	"slices"
	"strings"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// toleranceScenarios are the conformance rows for what the marketplace may
// send beyond its documented types (issue 16, parts 2 and 3), kept in a
// block of their own: a number where a string is documented (signed as sent
// or as the sample's Map<String,String> writes it), a string holding the
// object where one is documented, and a product name over Kubernetes'
// label limit.
func (r *conformance) toleranceScenarios() []scenario {
	return []scenario{
		{"numeric testFlag (signed as sent)", r.numericTestFlag(false)},
		{"numeric testFlag (signed as a string map)", r.numericTestFlag(true)},
		{"string productInfo", r.stringProductInfo},
		{"64-character product name", r.overlongProductName},
	}
}

// numericTestFlag returns a scenario that buys with "testFlag":1, a number
// where §3.2 documents the string "1". Signed as sent, it is a fresh order;
// signed as a Map<String,String> writes it ("testFlag":"1"), it repeats that
// order, which must give the same instanceId.
func (r *conformance) numericTestFlag(stringMap bool) func(context.Context) verdict {
	return func(ctx context.Context) verdict {
		repeat := stringMap && r.tolerant.orderID != ""
		if !repeat {
			r.tolerant.orderID = r.ids.orderID()
			if err := r.registerOrder(ctx, r.tolerant.orderID, koogallery.OrderNew, ""); err != nil {
				return fail("%v", err)
			}
		}
		body := newInstanceBody(r.tolerant.orderID, firstLine(r.tolerant.orderID), r.ids.businessID(), false)
		body = append(body, field{"testFlag", jsonNumber("1")})
		canonical := body.canonical
		if stringMap {
			canonical = body.canonicalStringMap
		}
		req, err := signBodyAs(r.m.key, body, canonical, r.m.now(), newNonce())
		if err != nil {
			return fail("%v", err)
		}
		a, problem := r.expectRequest(ctx, req, pendingCodes...)
		if problem != "" {
			return fail("%s", problem)
		}
		if problem := checkPurchase(a, r.m.key); problem != "" {
			return fail("%s", problem)
		}
		id := a.body.InstanceID
		if repeat && id != r.tolerant.instanceID {
			return fail("instanceId %s, want %s: the same order signed in the other form must get the same instance", id, r.tolerant.instanceID)
		}
		r.tolerant.instanceID = id
		if !slices.Contains(r.extra, id) {
			r.extra = append(r.extra, id)
		}
		if repeat {
			return pass("%s, same instanceId", a.code())
		}
		return pass("%s, instanceId %s", a.code(), id)
	}
}

// stringProductInfo asks changeInstanceCheck with productInfo as a string
// holding the object §3.8 documents, for the instance of the numeric
// testFlag purchase and --change-sku.
func (r *conformance) stringProductInfo(ctx context.Context) verdict {
	if r.changeSKU == "" {
		return skip("pass --change-sku <a plan's skuCode> to run it")
	}
	if r.tolerant.instanceID == "" {
		return fail("needs the instance of \"numeric testFlag (signed as sent)\", which failed")
	}
	product, err := callbackBody{{"productId", r.purchase.productID}, {"skuCode", r.changeSKU}}.wire()
	if err != nil {
		return fail("%v", err)
	}
	body := withTestFlag(callbackBody{
		{"activity", "changeInstanceCheck"},
		{"instanceId", r.tolerant.instanceID},
		{"productInfo", string(product)},
	}, r.debug)
	return doneWith(r.expect(ctx, body, successCodes...))
}

// overlongProductNameLength is one over the 63 characters of a label value,
// which a SaaSProduct's name becomes on every tenant.
const overlongProductNameLength = 64

// overlongProductName sends a purchase to the production URL of a product
// named with 64 characters. No such product can exist (kooper refuses the
// name at admission), so the answer must be the 000002 of an unknown
// product, never the 000005 of a product that fails every order.
func (r *conformance) overlongProductName(ctx context.Context) verdict {
	name := "sim-overlong-" + randomHex(6) + "-"
	name += strings.Repeat("x", overlongProductNameLength-len(name))
	orderID := r.ids.orderID()
	req, err := r.m.sign(newInstanceBody(orderID, firstLine(orderID), r.ids.businessID(), r.debug))
	if err != nil {
		return fail("%v", err)
	}
	a, err := r.m.forProduct(name).send(ctx, req)
	if err != nil {
		return fail("%v", err)
	}
	if problem := a.envelopeProblem(); problem != "" {
		return fail("%s", problem)
	}
	if a.code() != string(koogallery.ResultInvalidParam) {
		return fail("got %s, want 000002: a product name of %d characters cannot be a label value, so no such product may take orders", a.codeAndMessage(), len(name))
	}
	return pass("%s in %s", a.codeAndMessage(), formatElapsed(a.elapsed))
}

// forProduct returns a sender for the production URL of another product:
// the last element of the path replaced by name.
func (m *marketplace) forProduct(name string) *marketplace {
	other := *m
	u := *m.endpoint
	path := strings.TrimRight(u.Path, "/")
	u.Path = path[:strings.LastIndex(path, "/")+1] + name
	u.RawPath = ""
	other.endpoint = &u
	return &other
}

// tolerantPurchase is the order and instance of the numeric testFlag rows.
type tolerantPurchase struct {
	orderID, instanceID string
}
