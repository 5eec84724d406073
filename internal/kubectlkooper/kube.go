package kubectlkooper

import (
	"context"
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// Labels that find kooper's own objects: the chart puts them on both
// components' Deployments, Pods and Services.
const (
	partOfLabel    = "app.kubernetes.io/part-of"
	componentLabel = "app.kubernetes.io/component"
	// defaultNamespace is kooper's namespace when no Deployment says
	// otherwise: the chart's documented one, and the operator's default.
	defaultNamespace = "kooper-system"
)

// The two components (DESIGN §1), as the chart labels them.
const (
	componentReceiver    = "receiver"
	componentControllers = "controllers"
)

// componentSelector selects one component's objects of kooper.
func componentSelector(component string) client.MatchingLabels {
	return client.MatchingLabels{partOfLabel: "kooper", componentLabel: component}
}

// clients are the API clients of one command.
type clients struct {
	config *rest.Config
	client client.Client
	set    kubernetes.Interface
}

// newScheme knows the built-in kinds, CRDs and kooper's kinds.
func newScheme() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, saasv1alpha1.AddToScheme, apiextensionsv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	return scheme, nil
}

// clients builds the API clients from kubectl's flags.
func (e *env) clients() (*clients, error) {
	config, err := e.kube.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	scheme, err := newScheme()
	if err != nil {
		return nil, err
	}
	c, err := client.New(config, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("failed to reach the API server: %w", err)
	}
	set, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, err
	}
	return &clients{config: config, client: c, set: set}, nil
}

// namespace is kooper's namespace: -n when given; else the namespace of
// kooper's controllers (or receiver) Deployment, the first by name when
// several are installed; else kooper-system. The kubeconfig context's
// namespace is not used: it is where the merchant works, rarely kooper's.
func (e *env) namespace(ctx context.Context, c *clients) string {
	if e.kube.Namespace != nil && *e.kube.Namespace != "" {
		return *e.kube.Namespace
	}
	for _, component := range []string{componentControllers, componentReceiver} {
		list := &appsv1.DeploymentList{}
		if err := c.client.List(ctx, list, componentSelector(component)); err != nil || len(list.Items) == 0 {
			continue // a merchant who may not list every namespace's Deployments uses -n
		}
		namespaces := make([]string, 0, len(list.Items))
		for i := range list.Items {
			namespaces = append(namespaces, list.Items[i].Namespace)
		}
		slices.Sort(namespaces)
		return namespaces[0]
	}
	return defaultNamespace
}
