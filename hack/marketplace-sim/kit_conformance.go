package main

import (
	"context"
	"strings"
)

// kitScenarios are the joint-operation kit rows of the conformance run.
// They sync an instance the receiver does not know, as the seller's test
// tenant is (spec §1.8): every call must still succeed.
func (r *conformance) kitScenarios() []scenario {
	return []scenario{
		{"kit tenantSync (unknown instance)", r.kitTenantSync},
		{"kit applicationSync", r.kitApplicationSync},
		{"kit undecryptable clientSecret", r.kitBadClientSecret},
		{"kit allOrgSync (list as a string)", r.kitAllOrgSync},
		{"kit singleOrgSync", r.kitSingleOrgSync},
		{"kit authSync (500 users)", r.kitAuthSync},
		{"kit authSync cancel, repeated", r.kitCancelRepeated},
		{"kit tenantSync delete, repeated", r.kitDeleteRepeated},
		{"kit bad x-sign", r.kitBadSign},
		{"kit flag sent as a string", r.kitStringFlag},
	}
}

// kitOptions returns the values of a kit call on the run's test tenant.
func (r *conformance) kitOptions(name string, flag int) kitOptions {
	if r.kitInstance == "" {
		r.kitInstance = "sim-kit-" + randomHex(6)
	}
	return kitOptions{name: name, instanceID: r.kitInstance, tenantID: "sim-tenant", tenantCode: "sim",
		domain: "https://sim.tenantaccount.example.com", appID: "sim-app", clientID: "sim-client", clientSecret: "sim-client-secret",
		orgCode: "sim-d9", orgName: "Department 9", parentCode: "sim-root", flag: flag, users: 500, departments: 3, debug: r.debug}
}

// kitExpect builds, signs (with key) and sends a kit call, then checks the
// answer as expectRequest does.
func (r *conformance) kitExpect(ctx context.Context, o kitOptions, key string, edit func(callbackBody) callbackBody, want ...string) (*answer, string) {
	body, err := r.kit.body(o)
	if err != nil {
		return nil, err.Error()
	}
	if edit != nil {
		body = edit(body)
	}
	req, err := r.kit.sign(o.name, body, key)
	if err != nil {
		return nil, err.Error()
	}
	a, err := r.kit.send(ctx, req)
	if err != nil {
		return nil, err.Error()
	}
	if problem := a.envelopeProblem(); problem != "" {
		return a, problem
	}
	if a.elapsed > answerDeadline {
		return a, "answered in " + roundDuration(a.elapsed).String() + "; the marketplace may give up after " + answerDeadline.String()
	}
	for _, code := range want {
		if a.code() == code {
			return a, ""
		}
	}
	return a, "got " + a.codeAndMessage() + ", want " + strings.Join(want, " or ")
}

// kitCheck runs one kit call that must answer one of want.
func (r *conformance) kitCheck(ctx context.Context, o kitOptions, edit func(callbackBody) callbackBody, want ...string) verdict {
	if r.kit == nil {
		return skip("no --kit-key (or $%s)", envKitKey)
	}
	a, problem := r.kitExpect(ctx, o, r.kit.key, edit, want...)
	if problem != "" {
		return fail("%s", problem)
	}
	return pass("%s", a.codeAndMessage())
}

func (r *conformance) kitTenantSync(ctx context.Context) verdict {
	return r.kitCheck(ctx, r.kitOptions("tenantSync", 1), nil, successCodes...)
}

func (r *conformance) kitApplicationSync(ctx context.Context) verdict {
	if r.kit != nil && r.kit.public == nil {
		return skip("no --kit-public-key (or $%s) to encrypt clientSecret with", envKitPublicKey)
	}
	return r.kitCheck(ctx, r.kitOptions("applicationSync", 1), nil, successCodes...)
}

// kitBadClientSecret sends a clientSecret no merchant key decrypts; the
// sample answers 000101 (§3.11.2), which the docs define otherwise (§8
// item 17), so a receiver may answer 000005, an internal error, instead
// (kooper's default).
func (r *conformance) kitBadClientSecret(ctx context.Context) verdict {
	return r.kitCheck(ctx, r.kitOptions("applicationSync", 1), func(b callbackBody) callbackBody {
		return replaceField(b, "clientSecret", "bm90LWVuY3J5cHRlZA==")
	}, "000101", "000005")
}

func (r *conformance) kitAllOrgSync(ctx context.Context) verdict {
	o := r.kitOptions("allOrgSync", -1)
	o.orgsAsString = true
	return r.kitCheck(ctx, o, nil, successCodes...)
}

func (r *conformance) kitSingleOrgSync(ctx context.Context) verdict {
	return r.kitCheck(ctx, r.kitOptions("singleOrgSync", 1), nil, successCodes...)
}

func (r *conformance) kitAuthSync(ctx context.Context) verdict {
	return r.kitCheck(ctx, r.kitOptions("authSync", 1), nil, successCodes...)
}

// kitCancelRepeated cancels the authorisations twice; both must succeed.
func (r *conformance) kitCancelRepeated(ctx context.Context) verdict {
	if v := r.kitCheck(ctx, r.kitOptions("authSync", 3), nil, successCodes...); v.result != resultPass {
		return v
	}
	return r.kitCheck(ctx, r.kitOptions("authSync", 3), nil, successCodes...)
}

// kitDeleteRepeated deletes the enterprise twice: "a delete must succeed
// every time" (§1.8).
func (r *conformance) kitDeleteRepeated(ctx context.Context) verdict {
	if v := r.kitCheck(ctx, r.kitOptions("tenantSync", 0), nil, successCodes...); v.result != resultPass {
		return v
	}
	return r.kitCheck(ctx, r.kitOptions("tenantSync", 0), nil, successCodes...)
}

// kitBadSign signs with a key that is not the kit key.
func (r *conformance) kitBadSign(ctx context.Context) verdict {
	if r.kit == nil {
		return skip("no --kit-key (or $%s)", envKitKey)
	}
	a, problem := r.kitExpect(ctx, r.kitOptions("tenantSync", 1), "not-"+r.kit.key, nil, "000001")
	if problem != "" {
		return fail("%s", problem)
	}
	return pass("%s", a.codeAndMessage())
}

// kitStringFlag sends flag as "1": the kit's integers are typed (§3.11).
func (r *conformance) kitStringFlag(ctx context.Context) verdict {
	return r.kitCheck(ctx, r.kitOptions("tenantSync", 1), func(b callbackBody) callbackBody {
		return replaceField(b, "flag", "1")
	}, "000002")
}

// replaceField returns b with the named member's value replaced.
func replaceField(b callbackBody, name string, value any) callbackBody {
	out := make(callbackBody, len(b))
	copy(out, b)
	for i := range out {
		if out[i].name == name {
			out[i].value = value
		}
	}
	return out
}
