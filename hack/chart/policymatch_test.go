package chart

import (
	"context"
	"fmt"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The admission policy confines the controllers' writes of namespaced objects (DESIGN.md
// rule 13). The API server matches a policy's resourceRules against every write in the
// cluster before anything else, and evaluates its CEL match condition for each write the
// rules match, whoever sends it. So the rules must match exactly what the controllers may
// write: a kind RBAC grants them and the rules miss is confined by nothing; a kind the rules
// name beyond those costs every other writer of it an evaluation (with "*/*" that was every
// Pod status, Lease and ReplicaSet of the cluster).

// writeOperations maps the RBAC verbs that write to the admission operation each is
// admitted as.
var writeOperations = map[string]string{
	"create": "CREATE", "update": "UPDATE", "patch": "UPDATE", "delete": "DELETE", "deletecollection": "DELETE",
}

// writable is a resource (or resource/subresource) of an API group and the admission
// operation a write of it is admitted as.
type writable struct{ group, resource, operation string }

func (w writable) String() string {
	group := w.group
	if group == "" {
		group = "core"
	}
	return fmt.Sprintf("%s %s (%s)", w.operation, w.resource, group)
}

// checkPolicyMatchesControllersWrites asks the API server, for every namespaced resource it
// serves and for Namespaces, whether RBAC lets account write it, and compares the answers with
// the kinds policy matches, both ways.
func checkPolicyMatchesControllersWrites(ctx context.Context, t *testing.T, cfg *rest.Config, admin client.Client, policy object, account serviceAccount) {
	t.Helper()
	rules := policyResourceRules(t, policy)
	granted := map[writable]bool{}
	for _, w := range candidateWrites(t, cfg) {
		a := authorizationv1.ResourceAttributes{Group: w.group, Namespace: plainNS}
		a.Resource, a.Subresource, _ = strings.Cut(w.resource, "/")
		if w.group == "" && w.resource == "namespaces" {
			a.Namespace = ""
		}
		for verb, op := range writeOperations {
			if op != w.operation {
				continue
			}
			a.Verb = verb
			if rbacAllows(ctx, t, admin, account, a) {
				granted[w] = true
			}
		}
	}
	for w := range granted {
		if !rules.matches(w) {
			t.Errorf("RBAC lets the controllers %s but the admission policy does not match it: add it to spec.matchConstraints.resourceRules in charts/kooper/templates/admissionpolicy.yaml", w)
		}
	}
	for _, w := range rules.named(t) {
		if !granted[w] {
			t.Errorf("the admission policy matches %s, which RBAC does not let the controllers do: every other writer of it pays for the policy's match condition", w)
		}
	}
	if len(granted) == 0 {
		t.Fatal("RBAC lets the controllers write nothing the test can see: are the bindings in effect?")
	}
}

// candidateWrites lists each write operation of every namespaced resource the API server
// serves (subresources included, in their preferred versions) and of Namespaces.
func candidateWrites(t *testing.T, cfg *rest.Config) []writable {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lists, err := dc.ServerPreferredResources()
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	var out []writable
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range list.APIResources {
			isNamespaces := gv.Group == "" && r.Name == "namespaces"
			if !r.Namespaced && !isNamespaces {
				continue
			}
			ops := map[string]bool{}
			for _, verb := range r.Verbs {
				if op, ok := writeOperations[verb]; ok {
					ops[op] = true
				}
			}
			for op := range ops {
				out = append(out, writable{group: gv.Group, resource: r.Name, operation: op})
			}
		}
	}
	return out
}

// resourceRules are a policy's spec.matchConstraints.resourceRules, decoded.
type resourceRules []struct{ groups, resources, operations []string }

func policyResourceRules(t *testing.T, policy object) resourceRules {
	t.Helper()
	raw, _ := get(t, policy, "spec", "matchConstraints", "resourceRules").([]any)
	rules := make(resourceRules, len(raw))
	for i := range raw {
		rules[i].groups = stringList(t, get(t, raw, i, "apiGroups"))
		rules[i].resources = stringList(t, get(t, raw, i, "resources"))
		rules[i].operations = stringList(t, get(t, raw, i, "operations"))
	}
	return rules
}

// matches says whether a write of w is matched, with the API server's wildcards: "*" for
// any group, operation or resource (not subresource), "*/*" and "r/*" for subresources.
func (rules resourceRules) matches(w writable) bool {
	base, _, isSub := strings.Cut(w.resource, "/")
	for _, r := range rules {
		resourceOK := contains(r.resources, w.resource) || contains(r.resources, "*/*") ||
			(!isSub && contains(r.resources, "*")) || (isSub && contains(r.resources, base+"/*"))
		if resourceOK && (contains(r.groups, w.group) || contains(r.groups, "*")) &&
			(contains(r.operations, w.operation) || contains(r.operations, "*")) {
			return true
		}
	}
	return false
}

// named lists every write the rules name one by one; a wildcard fails the test, since it
// matches kinds the controllers may not write.
func (rules resourceRules) named(t *testing.T) []writable {
	t.Helper()
	var out []writable
	for _, r := range rules {
		for _, list := range [][]string{r.groups, r.resources, r.operations} {
			for _, v := range list {
				if strings.Contains(v, "*") {
					t.Errorf("the admission policy matches %q (groups %v, resources %v): every write of the cluster it covers pays for its match condition; name the kinds", v, r.groups, r.resources)
				}
			}
		}
		for _, g := range r.groups {
			for _, res := range r.resources {
				for _, op := range r.operations {
					out = append(out, writable{group: g, resource: res, operation: op})
				}
			}
		}
	}
	return out
}

// stringList is a decoded YAML list of strings.
func stringList(t *testing.T, v any) []string {
	t.Helper()
	list, ok := v.([]any)
	if !ok {
		t.Fatalf("not a list: %v", v)
	}
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = fmt.Sprint(s)
	}
	return out
}
