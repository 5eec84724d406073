package chart

import (
	"context"
	"net/http"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kooper-io/kooper/internal/testenv"
)

// flowSchemaUIDHeader is the response header in which kube-apiserver names
// the FlowSchema that classified a request (API Priority and Fairness).
const flowSchemaUIDHeader = "X-Kubernetes-PF-FlowSchema-UID"

// classifiedBy returns a function that sends a request as account and
// answers the UID of the FlowSchema the API server classified it by.
func classifiedBy(t *testing.T, env *testenv.Env, account serviceAccount) func() string {
	t.Helper()
	var mu sync.Mutex
	var last string
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: account.String(), Groups: account.groups()}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(r)
			if err == nil {
				mu.Lock()
				last = resp.Header.Get(flowSchemaUIDHeader)
				mu.Unlock()
			}
			return resp, err
		})
	})
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return func() string {
		// Any answer will do, a refusal included: APF classifies a
		// request before it is authorised.
		_ = c.Get(context.Background(), client.ObjectKey{Namespace: releaseNamespace, Name: "kooper-flowschema-probe"}, &corev1.ConfigMap{})
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// checkReceiverFlowSchema asserts, against the API server, that the
// rendered FlowSchema classifies the receiver's requests, and not the
// controllers', into its priority level (charts/kooper/templates/flowschema.yaml).
func checkReceiverFlowSchema(ctx context.Context, t *testing.T, env *testenv.Env, admin client.Client, rendered object, receiver, controllers serviceAccount) {
	g := NewWithT(t)
	g.SetDefaultEventuallyTimeout(testenv.EventuallyTimeout)
	g.SetDefaultEventuallyPollingInterval(testenv.EventuallyPolling)
	schema := &flowcontrolv1.FlowSchema{}
	g.Expect(admin.Get(ctx, client.ObjectKey{Name: get(t, rendered, "metadata", "name").(string)}, schema)).To(Succeed())
	level := &flowcontrolv1.PriorityLevelConfiguration{}
	g.Expect(admin.Get(ctx, client.ObjectKey{Name: schema.Spec.PriorityLevelConfiguration.Name}, level)).
		To(Succeed(), "the priority level %s must be one the API server has", schema.Spec.PriorityLevelConfiguration.Name)

	g.Eventually(classifiedBy(t, env, receiver)).Should(Equal(string(schema.UID)),
		"the receiver's requests must be classified by FlowSchema %s", schema.Name)
	controllersSchema := classifiedBy(t, env, controllers)()
	g.Expect(controllersSchema).NotTo(BeEmpty(), "the API server names a FlowSchema for every request")
	g.Expect(controllersSchema).NotTo(Equal(string(schema.UID)), "the controllers' requests stay where they were")
}
