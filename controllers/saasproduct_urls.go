package controllers

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"unicode/utf8"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// maxURLLength is the most characters appInfo's frontEndUrl and adminUrl may
// have (spec §3.2), and the bound of status.frontEndUrl and status.adminUrl.
const maxURLLength = 512

// instanceIDDigits is how many hex digits follow "i-" in the instance IDs
// the receiver issues (80 bits of SHA-256, webhook instanceID).
const instanceIDDigits = 20

// sampleInstanceIDs are the tenants a product is checked for where every
// tenant must differ (its URL templates' hosts, its chart's Ingress
// routes, its Prometheus queries): the shape of the instance IDs kooper
// issues, different in every digit, so what does not change with the
// instance at all is caught. A template that uses only part of the ID (or
// of the namespace made from it) passes them, yet is the same for every
// two tenants whose IDs agree on that part: digitSampleID catches that.
var sampleInstanceIDs = [2]string{"i-" + strings.Repeat("0", instanceIDDigits), "i-" + strings.Repeat("f", instanceIDDigits)}

// digitSampleID is sampleInstanceIDs[0] with only its hex digit at
// position (0-based, after "i-") changed. A template that ignores that
// digit renders the same for both: a pair that differs in one digit alone
// is the only pair of samples that shows a template ignoring that one.
func digitSampleID(position int) string {
	digits := []byte(strings.Repeat("0", instanceIDDigits))
	digits[position] = 'f'
	return "i-" + string(digits)
}

// ignoredDigits names 0-based digit positions 1-based, in runs: "digit
// 11" or "digits 4-6 and 9-20".
func ignoredDigits(positions []int) string {
	var runs []string
	for i := 0; i < len(positions); {
		j := i
		for j+1 < len(positions) && positions[j+1] == positions[j]+1 {
			j++
		}
		if i == j {
			runs = append(runs, fmt.Sprint(positions[i]+1))
		} else {
			runs = append(runs, fmt.Sprintf("%d-%d", positions[i]+1, positions[j]+1))
		}
		i = j + 1
	}
	noun := "digits"
	if len(positions) == 1 {
		noun = "digit"
	}
	if len(runs) == 1 {
		return noun + " " + runs[0]
	}
	return noun + " " + strings.Join(runs[:len(runs)-1], ", ") + " and " + runs[len(runs)-1]
}

// urlProblem is why a product's URL templates, or one tenant's rendering of
// them, cannot be used; reason is a condition reason.
type urlProblem struct {
	reason, message string
}

func (p *urlProblem) Error() string { return p.message }

func templateInvalid(format string, args ...any) *urlProblem {
	return &urlProblem{reason: saasv1alpha1.URLTemplateInvalidReason, message: fmt.Sprintf(format, args...)}
}

// urlsCondition checks the product's URL templates as the tenant controller
// will render them: each must render, within maxURLLength characters, to a
// URL whose host is a DNS name (it becomes the tenant's Ingress host), and,
// when the product has an Ingress, the host must differ from tenant to
// tenant, with every digit of the instance ID. CEL cannot decide this: a
// template computes its host.
func urlsCondition(product *saasv1alpha1.SaaSProduct) metav1.Condition {
	cond := metav1.Condition{Type: saasv1alpha1.URLsValidCondition, Status: metav1.ConditionTrue,
		Reason: saasv1alpha1.SucceededReason, Message: "Every tenant gets URLs of its own"}
	if product.Spec.URLs == nil {
		cond.Message = "No URL templates"
		return cond
	}
	if p := checkURLTemplates(product); p != nil {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, p.reason, p.message
	}
	return cond
}

// checkURLTemplates renders the product's URLs for the sample tenants and
// returns the first problem, or nil. With an Ingress, the host is also
// rendered for each digitSampleID: one render per digit, cheap next to the
// Ingress it guards, and done once per generation and workload
// (urlCheckCache). Of the parts a revision carries it reads spec.workload
// alone: the cache keys by that, and a check that read another (the chart)
// would have to key by it too.
func checkURLTemplates(product *saasv1alpha1.SaaSProduct) *urlProblem {
	var hosts [len(sampleInstanceIDs)]string
	for i, id := range sampleInstanceIDs {
		host, p := sampleHost(product, id)
		if p != nil {
			return p
		}
		hosts[i] = host
	}
	if !hasIngress(product) {
		return nil
	}
	if strings.EqualFold(hosts[0], hosts[1]) {
		return &urlProblem{reason: saasv1alpha1.IngressHostNotUniqueReason, message: fmt.Sprintf(
			"frontEndUrl gives every tenant the Ingress host %q, so buyers would reach one another's tenants: "+
				"put {{.InstanceID}} or {{.Namespace}} in its host; no tenant is provisioned until then", hosts[0])}
	}
	var problem *urlProblem
	ignored := digitsLeftOut(hosts[0], func(id string) (string, bool) {
		host, p := sampleHost(product, id)
		problem = cmp.Or(problem, p)
		return host, p == nil
	}, strings.EqualFold)
	if problem != nil || len(ignored) == 0 {
		return problem
	}
	return &urlProblem{reason: saasv1alpha1.IngressHostNotUniqueReason, message: fmt.Sprintf(
		"frontEndUrl gives tenants whose instance IDs differ only in hex digit %d of the %d after i- (%s and %s) the same "+
			"Ingress host %q: it ignores %s, so buyers whose instance IDs agree on the digits it uses would reach one "+
			"another's tenants: put the whole {{.InstanceID}} or {{.Namespace}} in its host; no tenant is provisioned until then",
		ignored[0]+1, instanceIDDigits, sampleInstanceIDs[0], digitSampleID(ignored[0]), hosts[0], ignoredDigits(ignored))}
}

// firstDigitCutFromHost is the first digit position (0-based) whose change
// leaves frontEndUrl's host as it is, though the host changes with the
// instance: a host cut from the instance ID. -1 when the host holds every
// digit, is the same for every tenant (a path tells tenants apart), or
// does not render. A chart product's check renders its chart for that
// digit's sample too (sharedRoute): a chart that routes kooper's host
// value shares that route.
func firstDigitCutFromHost(product *saasv1alpha1.SaaSProduct) int {
	host := func(id string) (string, bool) {
		urls, err := renderTenantURLs(product, id)
		return urls.Host, err == nil && urls.Host != ""
	}
	base, ok := host(sampleInstanceIDs[0])
	if other, otherOK := host(sampleInstanceIDs[1]); !ok || !otherOK || strings.EqualFold(base, other) {
		return -1
	}
	if cut := digitsLeftOut(base, host, strings.EqualFold); len(cut) > 0 {
		return cut[0]
	}
	return -1
}

// digitsLeftOut lists the digit positions (0-based) whose digitSampleID
// render renders the same as base: the digits of the instance ID that what
// it renders leaves out. A sample that does not render counts as changed.
func digitsLeftOut(base string, render func(id string) (string, bool), same func(a, b string) bool) []int {
	var left []int
	for position := range instanceIDDigits {
		if rendered, ok := render(digitSampleID(position)); ok && same(rendered, base) {
			left = append(left, position)
		}
	}
	return left
}

// sampleHost renders the product's URLs for the sample tenant id, checks
// them (checkTenantURLs), and returns frontEndUrl's host.
func sampleHost(product *saasv1alpha1.SaaSProduct, id string) (string, *urlProblem) {
	urls, err := renderTenantURLs(product, id)
	if err != nil {
		return "", templateInvalid("%v", err)
	}
	if p := checkTenantURLs(product, id, urls); p != nil {
		return "", p
	}
	return urls.Host, nil
}

// urlCheckCache remembers checkURLTemplates per product, generation and
// revision, so that a restart over thousands of tenants renders each
// product's templates once per revision its tenants run rather than once
// per tenant. The revision is part of the key because a tenant the rollout
// holds on an older revision is checked against that revision's workload
// (selectRevision overlays it on the product, keeping the product's UID
// and generation), and the check decides on it (an Ingress, an SSO
// gateway): one revision's verdict must not answer for another's. The
// zero value is ready.
type urlCheckCache struct {
	mu        sync.Mutex
	byProduct map[types.UID]urlChecks
	// render is checkURLTemplates when nil; a test stands in a slow one.
	render func(*saasv1alpha1.SaaSProduct) *urlProblem
}

// urlChecks are one product's verdicts at one generation, by revisionKey.
type urlChecks struct {
	generation int64
	byRevision map[string]*urlProblem
}

const (
	// maxURLChecks bounds the products the cache holds: far more than any
	// merchant sells.
	maxURLChecks = 1024
	// maxURLChecksPerProduct bounds the revisions held for one product and
	// generation: a rollout holds tenants on two revisions, rarely a few
	// more (a new version while one rolls out).
	maxURLChecksPerProduct = 16
)

// check returns checkURLTemplates(product), computed once per generation
// and revision, or, for a chart product, the Ingress route its chart
// would give every tenant (chartRouteShared). revision names the product
// revision product holds (tenantState.revision): revision names are hashes
// of their content, so one name is one workload. Without one, the
// workload itself keys it.
func (c *urlCheckCache) check(product *saasv1alpha1.SaaSProduct, revision string) *urlProblem {
	if p := chartRouteShared(product); p != nil {
		return p
	}
	key, ok := revisionKey(product, revision)
	if !ok || product.UID == "" {
		// Nothing to key it by: checked afresh, as a product not stored.
		return checkURLTemplates(product)
	}
	if p, found := c.remembered(product, key); found {
		return p
	}
	// Rendered outside the lock, which every tenant of every product
	// shares: one product's templates, however long they take, must not
	// hold up another's tenants. Two tenants of one product may both
	// render it, once; they find the same verdict.
	render := checkURLTemplates
	if c.render != nil {
		render = c.render
	}
	p := render(product)
	c.mu.Lock()
	defer c.mu.Unlock()
	checks, ok := c.byProduct[product.UID]
	if ok && checks.generation > product.Generation {
		// A tenant on a newer generation stored its verdicts while this
		// rendered: this older one must not drop them.
		return p
	}
	if !ok || checks.generation != product.Generation || len(checks.byRevision) >= maxURLChecksPerProduct {
		// A new generation drops the verdicts of the one before: the
		// tenants of every revision are checked again at it.
		checks = urlChecks{generation: product.Generation, byRevision: map[string]*urlProblem{}}
	}
	checks.byRevision[key] = p
	if c.byProduct == nil || (!ok && len(c.byProduct) >= maxURLChecks) {
		c.byProduct = map[types.UID]urlChecks{}
	}
	c.byProduct[product.UID] = checks
	return p
}

// remembered is the verdict the cache holds for product's generation and
// key, if any.
func (c *urlCheckCache) remembered(product *saasv1alpha1.SaaSProduct, key string) (*urlProblem, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	checks, ok := c.byProduct[product.UID]
	if !ok || checks.generation != product.Generation {
		return nil, false
	}
	p, found := checks.byRevision[key]
	return p, found
}

// revisionKey keys urlCheckCache: the revision's name, or, without one, a
// SHA-256 of the workload's JSON (the revision's part the check reads);
// false when the workload cannot be encoded.
func revisionKey(product *saasv1alpha1.SaaSProduct, revision string) (string, bool) {
	if revision != "" {
		return "revision " + revision, true
	}
	workload, err := json.Marshal(product.Spec.Workload)
	if err != nil {
		return "", false
	}
	sum := sha256.Sum256(workload)
	return "workload " + hex.EncodeToString(sum[:]), true
}

// chartRouteShared is the product controller's finding, in ChartReady
// (IngressHostNotUnique), that the chart of a chart product gives every
// tenant of a plan the same Ingress route; nil when it found none. Only
// renders of the chart can tell, so the tenants read the product's
// verdict rather than render it twice more each. It is read whatever
// generation it was found for: ChartReady's change wakes the tenants
// (chartStatusChanged), whether it finds the route or clears it.
func chartRouteShared(product *saasv1alpha1.SaaSProduct) *urlProblem {
	if product.Spec.Chart == nil {
		return nil
	}
	cond := apimeta.FindStatusCondition(product.Status.Conditions, saasv1alpha1.ChartReadyCondition)
	if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != saasv1alpha1.IngressHostNotUniqueReason {
		return nil
	}
	return &urlProblem{reason: saasv1alpha1.IngressHostNotUniqueReason, message: cond.Message}
}

// renderTenantURLs renders the product's URLs for instance id as the
// controllers do: a tenant with its namespace, a licence without one.
func renderTenantURLs(product *saasv1alpha1.SaaSProduct, id string) (tenantobjects.URLs, error) {
	if product.Spec.Type == saasv1alpha1.ProductTypeLicense {
		return tenantobjects.RenderURLs(product, id, "")
	}
	return tenantobjects.RenderURLs(product, id, tenantobjects.NamespaceName(product, id))
}

// checkTenantURLs checks one tenant's rendered URLs: each fits appInfo and
// status, and the host, when it becomes an Ingress host, is a DNS name of
// labels of at most 63 characters (RFC 1123).
func checkTenantURLs(product *saasv1alpha1.SaaSProduct, id string, urls tenantobjects.URLs) *urlProblem {
	for _, u := range []struct{ name, value string }{{"frontEndUrl", urls.FrontEnd}, {"adminUrl", urls.Admin}} {
		if n := utf8.RuneCountInString(u.value); n > maxURLLength {
			return templateInvalid("%s renders to %d characters for instance %s; appInfo holds at most %d", u.name, n, id, maxURLLength)
		}
	}
	if p := gatewayURLProblem(product, id, urls.FrontEnd); p != nil {
		return p
	}
	if !hasIngress(product) {
		return nil
	}
	if errs := hostProblems(urls.Host); len(errs) > 0 {
		return templateInvalid("frontEndUrl renders the Ingress host %q for instance %s, which is not a DNS name: %s",
			urls.Host, id, strings.Join(errs, "; "))
	}
	return nil
}

// gatewayURLProblem checks frontEndUrl for a product with an SSO gateway:
// the gateway serves its sign-in callback at /oauth2/callback of that URL
// and sets Secure cookies, so it must be an https URL at the root of its
// host (docs/sso-gateway.md). A path would send the kit's redirect past
// the gateway, and every sign-in would fail.
func gatewayURLProblem(product *saasv1alpha1.SaaSProduct, id, frontEnd string) *urlProblem {
	if product.Spec.Workload.Gateway() == nil {
		return nil
	}
	u, err := url.Parse(frontEnd)
	if err == nil && u.Scheme == "https" && (u.Path == "" || u.Path == "/") && u.RawQuery == "" {
		return nil
	}
	return templateInvalid("with sso.gateway, frontEndUrl must be https at the root of its host (the gateway's sign-in "+
		"callback is /oauth2/callback there, and its cookies are Secure); it renders %q for instance %s", frontEnd, id)
}

// hostProblems lists why host cannot be an Ingress host that resolves: a
// DNS-1123 subdomain of at most 253 characters whose labels have at most 63.
func hostProblems(host string) []string {
	if errs := validation.IsDNS1123Subdomain(host); len(errs) > 0 {
		return errs
	}
	var errs []string
	for _, label := range strings.Split(host, ".") {
		if len(label) > validation.DNS1123LabelMaxLength {
			errs = append(errs, fmt.Sprintf("label %q has %d characters, more than %d", label, len(label), validation.DNS1123LabelMaxLength))
		}
	}
	return errs
}

func hasIngress(product *saasv1alpha1.SaaSProduct) bool {
	return product.Spec.Workload != nil && product.Spec.Workload.Ingress != nil
}
