package kubectlkooper

import (
	"context"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// On Kubernetes 1.28 and 1.29, which the docs support with
// admissionPolicy.enabled=false, the API server serves
// admissionregistration.k8s.io/v1 without ValidatingAdmissionPolicy: the
// client's REST mapper finds no such kind (as here, one that knows only the
// webhook configurations of that group). The policy cannot be there, so the
// row passes, saying the controllers are confined by RBAC only, and check
// can pass as the preflight the docs make it.
func TestCheckAdmissionPolicyWithoutTheAPI(t *testing.T) {
	g := NewWithT(t)
	mapper := apimeta.NewDefaultRESTMapper(nil)
	mapper.Add(admissionregistrationv1.SchemeGroupVersion.WithKind("ValidatingWebhookConfiguration"), apimeta.RESTScopeRoot)
	mapper.Add(admissionregistrationv1.SchemeGroupVersion.WithKind("MutatingWebhookConfiguration"), apimeta.RESTScopeRoot)
	c, err := client.New(testEnv.Config, client.Options{Scheme: testEnv.Scheme, Mapper: mapper})
	g.Expect(err).NotTo(HaveOccurred())
	// What a 1.28 or 1.29 API server leaves the client with.
	listErr := c.List(ctxFor(t), &admissionregistrationv1.ValidatingAdmissionPolicyList{})
	g.Expect(apimeta.IsNoMatchError(listErr)).To(BeTrue(), "%v", listErr)

	got := checkAdmissionPolicy(ctxFor(t), c, kooperNamespace)
	g.Expect(got).To(Equal(checkResult{Name: "admission-policy", Passed: true,
		Detail: "not installed: this cluster does not serve admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy (Kubernetes < 1.30); the controllers are confined by RBAC only"}))
}

// With admissionPolicy.enabled=false (or a cluster that does not serve the
// API: a REST mapper that has not caught up lists it, and the API server
// answers 404) no policy of kooper's is there: the row passes, saying so.
// A policy of kooper's that is there but confines nothing still fails.
func TestCheckAdmissionPolicyNotInstalled(t *testing.T) {
	account := "system:serviceaccount:" + kooperNamespace + ":kooper-controllers"
	policy := func(confines string) *admissionregistrationv1.ValidatingAdmissionPolicy {
		return &admissionregistrationv1.ValidatingAdmissionPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "kooper-controllers", Labels: map[string]string{partOfLabel: "kooper"}},
			Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
				MatchConditions: []admissionregistrationv1.MatchCondition{{Name: "controllers-service-account",
					Expression: "request.userInfo.username == '" + confines + "'"}},
			},
		}
	}
	notServed := interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
		if _, isPolicies := list.(*admissionregistrationv1.ValidatingAdmissionPolicyList); isPolicies {
			return apierrors.NewNotFound(admissionregistrationv1.Resource("validatingadmissionpolicies"), "")
		}
		return c.List(ctx, list, opts...)
	}}
	for _, tc := range []struct {
		name       string
		objs       []client.Object
		funcs      interceptor.Funcs
		wantPassed bool
		wantDetail string
	}{{
		name: "admissionPolicy.enabled=false: none of kooper's", wantPassed: true,
		objs:       []client.Object{&admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "someone-elses"}}},
		wantDetail: "not installed: no ValidatingAdmissionPolicy of kooper (the chart's admissionPolicy.enabled=false); the controllers are confined by RBAC only",
	}, {
		name: "the API server does not serve the kind", funcs: notServed, wantPassed: true,
		wantDetail: "not installed: this cluster does not serve admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy (Kubernetes < 1.30); the controllers are confined by RBAC only",
	}, {
		name:       "kooper's, for the controllers of another namespace",
		objs:       []client.Object{policy("system:serviceaccount:elsewhere:kooper-controllers")},
		wantDetail: "no ValidatingAdmissionPolicy of kooper confines the controllers of " + kooperNamespace,
	}, {
		name:       "kooper's, not bound",
		objs:       []client.Object{policy(account)},
		wantDetail: "ValidatingAdmissionPolicy kooper-controllers has no binding with Deny: it confines nothing",
	}, {
		name: "kooper's, bound with Deny", wantPassed: true,
		objs:       []client.Object{policy(account), policyBinding()},
		wantDetail: "policy kooper-controllers bound by kooper-controllers with Deny",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(tc.objs...).WithInterceptorFuncs(tc.funcs).Build()
			got := checkAdmissionPolicy(ctxFor(t), c, kooperNamespace)
			g.Expect(got.Passed).To(Equal(tc.wantPassed), got.Detail)
			g.Expect(got.Forbidden).To(BeFalse())
			if tc.wantPassed {
				g.Expect(got.Detail).To(Equal(tc.wantDetail))
			} else {
				g.Expect(strings.HasPrefix(got.Detail, tc.wantDetail)).To(BeTrue(), got.Detail)
			}
		})
	}
}
