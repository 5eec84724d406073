package main

import (
	"context"
	"strings"
	"time"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// edgeSkew is how far outside the 60 s window (§2.1.2 step 3) the edge
// timestamps lie: one second, so a receiver whose window is a little too
// wide, or that checks one direction only, fails.
const edgeSkew = 61 * time.Second

// routeScenarios are the rows of the production URL as it may be written
// and of the timestamp window's edges (issue 16): every answer must still be
// HTTP 200 JSON, never a 404 or a redirect the marketplace does not follow.
func (r *conformance) routeScenarios() []scenario {
	return []scenario{
		{"production URL with a trailing slash", r.trailingSlash},
		{"kit path with a double slash", r.kitDoubleSlash},
		{"timestamp 61 s old", r.edgeTimestamp(-edgeSkew)},
		{"timestamp 61 s ahead", r.edgeTimestamp(edgeSkew)},
	}
}

// trailingSlash queries an unknown instance at the production URL written
// with a trailing slash, as a merchant may register it: 000003, as without
// the slash (a 404 or 000002 "unknown product" fails).
func (r *conformance) trailingSlash(ctx context.Context) verdict {
	req, err := r.m.sign(queryInstanceBody(r.unknownInstanceID(), r.debug))
	if err != nil {
		return fail("%v", err)
	}
	req.path = strings.TrimRight(r.m.endpoint.Path, "/") + "/"
	return doneWith(r.expectRequest(ctx, req, string(koogallery.ResultInstanceNotFound)))
}

// kitDoubleSlash sends tenantSync to the production URL with a trailing
// slash plus the kit sub-path, as the marketplace appends it:
// .../crm//produceAPI/v2/tenantSync. It must succeed (000000), not be
// redirected.
func (r *conformance) kitDoubleSlash(ctx context.Context) verdict {
	if r.kit == nil {
		return skip("no --kit-key (or $%s)", envKitKey)
	}
	o := r.kitOptions("tenantSync", 1)
	body, err := r.kit.body(o)
	if err != nil {
		return fail("%v", err)
	}
	req, err := r.kit.sign(o.name, body, r.kit.key)
	if err != nil {
		return fail("%v", err)
	}
	req.path = strings.TrimRight(r.m.endpoint.Path, "/") + "/" + kitPath + o.name
	a, err := r.kit.send(ctx, req)
	if err != nil {
		return fail("%v", err)
	}
	if problem := answerProblem(a, successCodes...); problem != "" {
		return fail("%s", problem)
	}
	return pass("%s", a.codeAndMessage())
}

// edgeTimestamp returns a scenario that queries an unknown instance,
// correctly signed with a timestamp skew away from now (negative: in the
// past): 000002, in both directions.
func (r *conformance) edgeTimestamp(skew time.Duration) func(context.Context) verdict {
	return func(ctx context.Context) verdict {
		req, err := signBody(r.m.key, queryInstanceBody(r.unknownInstanceID(), r.debug), r.m.now().Add(skew), newNonce())
		if err != nil {
			return fail("%v", err)
		}
		return doneWith(r.expectRequest(ctx, req, string(koogallery.ResultInvalidParam)))
	}
}
