package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// Tests that one instance of a queryInstance about several (spec §3.3, up
// to 100 IDs) whose answer cannot be built does not withhold the others:
// each instance is checked on its own (docs/spec-uncertainties.md item 12).

// isolationCase is one multi-ID query and what it must answer: the result
// code, and the instances listed (each with appInfo) when it is 000000.
type isolationCase struct {
	name     string
	ids      []string
	code     string
	answered []string
}

// isolationCases are the rules, for two instances that can be answered and
// two whose appInfo cannot be built: the broken ones are left out of an
// answer that lists others, wherever they stand in the list; alone, with
// each other or with IDs never issued they are answered 000005, retried, as
// before.
func isolationCases(healthy, broken [2]string) []isolationCase {
	return []isolationCase{
		{"one broken among healthy ones", []string{healthy[0], broken[0], healthy[1]}, "000000", healthy[:]},
		{"the broken one first", []string{broken[0], healthy[0], healthy[1]}, "000000", healthy[:]},
		{"the broken one last", []string{healthy[0], healthy[1], broken[0]}, "000000", healthy[:]},
		{"two broken with one healthy", []string{broken[0], healthy[0], broken[1]}, "000000", healthy[:1]},
		{"the broken one alone", []string{broken[0]}, "000005", nil},
		{"only broken ones", []string{broken[0], broken[1]}, "000005", nil},
		{"a broken one and one never issued", []string{"i-never-issued", broken[0]}, "000005", nil},
	}
}

// checkIsolation sends each case's query and checks its answer.
func checkIsolation(t *testing.T, f *fixture, cases []isolationCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			leftOut := instancesLeftOut.WithLabelValues(f.product.Name)
			before := testutil.ToFloat64(leftOut)
			a := f.call(t, fmt.Sprintf(`{"activity":"queryInstance","instanceId":%q}`, strings.Join(tc.ids, ",")))
			g.Expect(a.Code).To(Equal(tc.code), a.Msg)
			if tc.code != "000000" {
				g.Expect(a.Info).To(BeEmpty())
				g.Expect(testutil.ToFloat64(leftOut)).To(Equal(before), "an answer of 000005 leaves nothing out")
				return
			}
			g.Expect(testutil.ToFloat64(leftOut)-before).To(BeEquivalentTo(len(tc.ids)-len(tc.answered)),
				"each instance left out is counted (kooper_query_instances_left_out_total)")
			g.Expect(a.Info).To(HaveLen(len(tc.answered)))
			for i, id := range tc.answered {
				g.Expect(a.Info[i].InstanceID).To(Equal(id), "the answered instances, in the order asked")
				g.Expect(a.Info[i].AppInfo).NotTo(BeNil(), "instance %s keeps its appInfo", id)
			}
		})
	}
}

// TestQueryInstanceOfSeveralTenantsLeavesOutOneWhoseCredentialsCannotBeBuilt:
// a tenant restored from another installation's backup names a credentials
// key this installation does not hold, so its password cannot be derived
// (credentialsOf answers 000005 for it). The tenants beside it in a
// multi-ID query are answered with their appInfo; it is left out.
func TestQueryInstanceOfSeveralTenantsLeavesOutOneWhoseCredentialsCannotBeBuilt(t *testing.T) {
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	var healthy, broken [2]string
	for i := range healthy {
		healthy[i], _ = f.buy(t)
		makeServing(t, healthy[i])
		f.untilAppInfo(t, fmt.Sprintf(`{"activity":"queryInstance","instanceId":%q}`, healthy[i]))
	}
	for i := range broken {
		broken[i], _ = f.buy(t)
		makeDerivedServing(t, broken[i], "0000000000000000")
	}
	checkIsolation(t, f, isolationCases(healthy, broken))

	a := f.call(t, fmt.Sprintf(`{"activity":"queryInstance","instanceId":"%s,%s"}`, broken[0], healthy[0]))
	NewWithT(t).Expect(a.EncryptType).To(Equal(string(koogallery.EncryptAES256)), "the answered tenant's credentials are encrypted")
}

// TestQueryInstanceOfSeveralLicencesLeavesOutOneWhoseKeyCannotBeRead: an
// issued licence whose key Secret is gone (deleted by hand, or not in the
// backup its record was restored from) cannot be answered (000005); the
// licences beside it in a multi-ID query are answered with their keys.
func TestQueryInstanceOfSeveralLicencesLeavesOutOneWhoseKeyCannotBeRead(t *testing.T) {
	f := newProductFixture(t, saasv1alpha1.ProductTypeLicense)
	var healthy, broken [2]string
	for i := range healthy {
		healthy[i], _ = f.buy(t)
		issueLicence(t, healthy[i], storeLicenceKey(t, healthy[i]))
	}
	for i := range broken {
		broken[i], _ = f.buy(t)
		issueLicence(t, broken[i], "licence-key-never-stored-"+broken[i])
	}
	checkIsolation(t, f, isolationCases(healthy, broken))

	a := f.call(t, fmt.Sprintf(`{"activity":"queryInstance","instanceId":"%s,%s"}`, broken[0], healthy[0]))
	NewWithT(t).Expect(a.Info).To(ConsistOf(HaveField("AppInfo.Memo", "key-of-"+healthy[0])))
}

// storeLicenceKey stands in for the licence controller: it stores id's key
// in kooper's namespace and returns the Secret's name.
func storeLicenceKey(t *testing.T, id string) string {
	t.Helper()
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: "licence-key-" + id},
		StringData: map[string]string{"licence": "key-of-" + id},
	}
	NewWithT(t).Expect(k8sClient.Create(ctxFor(t), secret)).To(Succeed())
	return secret.Name
}

// issueLicence records licence id as issued, its key in Secret name.
func issueLicence(t *testing.T, id, name string) {
	t.Helper()
	g := NewWithT(t)
	instance := &saasv1alpha1.License{}
	g.Expect(k8sClient.Get(ctxFor(t), types.NamespacedName{Name: id}, instance)).To(Succeed())
	instance.Status.LicenseKeyRef = &saasv1alpha1.SecretKeyReference{Namespace: operatorNamespace, Name: name, Key: "licence"}
	apimeta.SetStatusCondition(&instance.Status.Conditions, metav1.Condition{
		Type: saasv1alpha1.IssuedCondition, Status: metav1.ConditionTrue, Reason: saasv1alpha1.SucceededReason, Message: "issued"})
	g.Expect(k8sClient.Status().Update(ctxFor(t), instance)).To(Succeed())
}

// Only a fault of the instance itself leaves it out of an answer about
// several: a read the API server failed (throttled, timed out, its
// connection refused) is the whole answer's, 000005, which the marketplace
// retries, not an instance it is told nothing of.
func TestOnlyAFaultOfTheInstanceLeavesItOut(t *testing.T) {
	refused := &url.Error{Op: "Get", URL: "https://10.96.0.1:443/api/v1/namespaces/kooper/secrets/k",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	secret := schema.GroupResource{Resource: "secrets"}
	cases := []struct {
		name  string
		err   error
		fault bool
	}{
		{"the credentials key is another installation's", errInternal("the credentials key is not the tenant's", errors.New("key id 0000 is not held")), true},
		{"the licence key Secret is missing", errInternal("the licence key cannot be read", apierrors.NewNotFound(secret, "k")), true},
		{"the licence key Secret is forbidden", errInternal("the licence key cannot be read", apierrors.NewForbidden(secret, "k", errors.New("no"))), true},
		{"a record lost with its CRD", errLostWithCRD("SaaSTenant", "i-1"), true},
		{"throttled", errInternal("the licence key cannot be read", apierrors.NewTooManyRequests("slow down", 1)), false},
		{"the API server timed out", errInternal("the credentials key cannot be read", apierrors.NewTimeoutError("etcdserver: request timed out", 1)), false},
		{"an internal error", errInternal("the licence key cannot be read", apierrors.NewInternalError(errors.New("etcd"))), false},
		{"unavailable", errInternal("the licence key cannot be read", apierrors.NewServiceUnavailable("starting")), false},
		{"the connection refused", errInternal("the tenant's credentials cannot be read", refused), false},
		{"the callback's time spent", errInternal("the licence key cannot be read", context.DeadlineExceeded), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(isInstanceFault(tc.err)).To(Equal(tc.fault))
		})
	}
}
