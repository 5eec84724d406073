package controllers

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/yaml"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/yamlbound"
)

// ProductsFieldOwner is the server-side apply field owner of the products
// applied from the products ConfigMap.
const ProductsFieldOwner = "kooper-products-configmap"

// maxProductManifestBytes is the most a products ConfigMap key's YAML may
// come to once its aliases are expanded: 1 MiB, the most the API server
// lets a whole ConfigMap hold, so the bound of any key written without
// aliases.
const maxProductManifestBytes = 1 << 20

// Event reasons of the products ConfigMap.
const (
	ProductsAppliedReason = "ProductsApplied"
	InvalidProductReason  = "InvalidProduct"
)

// ProductConfigReconciler applies the SaaSProducts written in one ConfigMap
// of kooper's namespace: each data entry is a SaaSProduct manifest.
//
// The Helm chart declares its optional product this way rather than as a
// SaaSProduct, because a chart cannot create a custom resource in the same
// release that creates its CRD, and a custom resource created by a hook and
// adopted later is not patched by Helm's next upgrade. A ConfigMap has
// neither problem, so every helm upgrade reaches the product.
//
// Products are only ever created or updated here. Removing an entry, or the
// ConfigMap (helm uninstall), leaves the product and its paying tenants
// alone; deleting a product is a deliberate kubectl delete.
type ProductConfigReconciler struct {
	client.Client
	// Recorder emits Events on the ConfigMap.
	Recorder events.EventRecorder
	// Namespace and Name identify the ConfigMap.
	Namespace, Name string
}

// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch
// +kubebuilder:rbac:groups=saas.kooper.io,resources=saasproducts,verbs=get;list;watch;create;patch

// SetupWithManager watches the one ConfigMap.
func (r *ProductConfigReconciler) SetupWithManager(mgr ctrl.Manager) error {
	isTheConfigMap := predicate.NewPredicateFuncs(func(obj client.Object) bool {
		return obj.GetNamespace() == r.Namespace && obj.GetName() == r.Name
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("productconfig").
		WithOptions(controller.Options{RateLimiter: newRetryRateLimiter()}).
		For(&corev1.ConfigMap{}, builder.WithPredicates(isTheConfigMap)).
		Complete(r)
}

// Reconcile applies every product of the ConfigMap. An entry that cannot
// be applied does not stop the others: each is reported in one Event. A
// malformed or invalid entry is not retried, since only a change of the
// ConfigMap can fix it; any other failure ends the reconcile with the
// failures joined, for a retry with back-off.
func (r *ProductConfigReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	cm := &corev1.ConfigMap{}
	if err := r.Get(ctx, req.NamespacedName, cm); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	s := &productConfigState{cm: cm}
	return runSteps(ctx, s, r.applyProducts, r.reportApplied, retryFailed).result(ctrl.Result{})
}

// productConfigState carries one reconcile's findings from step to step.
type productConfigState struct {
	cm *corev1.ConfigMap
	// changed names the products an apply created or changed; notApplied
	// says, "<key>: <why>", why each key that was not applied was not.
	changed, notApplied []string
	// retry holds the failures that a retry may mend, one per key.
	retry []error
}

// applyProducts applies the product of each key, in key order, each on its
// own: a key that fails is recorded (notApplied, and retry unless only a
// change of the ConfigMap can help: retryableApply) and the next is
// applied.
func (r *ProductConfigReconciler) applyProducts(ctx context.Context, s *productConfigState) outcome {
	for _, key := range slices.Sorted(maps.Keys(s.cm.Data)) {
		product, err := decodeProduct(s.cm.Data[key])
		if err != nil {
			s.notApplied = append(s.notApplied, fmt.Sprintf("%s: %v", key, err))
			continue
		}
		changed, err := r.applyProduct(ctx, product)
		if err != nil {
			s.notApplied = append(s.notApplied, fmt.Sprintf("%s: %v", key, err))
			if retryableApply(err) {
				s.retry = append(s.retry, fmt.Errorf("failed to apply SaaSProduct %s from %s: %w", product.GetName(), key, err))
			}
			continue
		}
		if changed {
			s.changed = append(s.changed, product.GetName())
		}
	}
	return proceed()
}

// applyProduct applies product, and reports whether the apply created or
// changed it: its resourceVersion moved from the one read before (from
// the cache: one that lags may make an unchanged product look changed,
// never the reverse). Most passes (a restart, a new leader, a retry)
// change nothing.
func (r *ProductConfigReconciler) applyProduct(ctx context.Context, product *unstructured.Unstructured) (bool, error) {
	stored := &saasv1alpha1.SaaSProduct{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(product), stored); err != nil {
		stored.ResourceVersion = "" // not found, or unknown: an apply that succeeds counts as a change
	}
	err := r.Apply(ctx, client.ApplyConfigurationFromUnstructured(product), client.FieldOwner(ProductsFieldOwner), client.ForceOwnership)
	if err != nil {
		return false, err
	}
	return product.GetResourceVersion() != stored.ResourceVersion, nil
}

// retryableApply reports whether a retry may apply what the API server
// refused with err: not when it refuses the manifest itself as invalid
// (422) or malformed (400), which only a change of the ConfigMap mends;
// yes for anything else (a conflict, a timeout, a 403), and for a refusal
// by the cluster's admission whatever its code (admissionRefusal), since
// kooper cannot see the policy change that lets it through.
func retryableApply(err error) bool {
	return admissionRefusal(err) || !apierrors.IsInvalid(err) && !apierrors.IsBadRequest(err)
}

// retryFailed ends the reconcile with the retryable failures joined
// (errors.Join), to be retried with back-off; with none, it proceeds.
func retryFailed(_ context.Context, s *productConfigState) outcome {
	return failed(errors.Join(s.retry...))
}

// reportApplied emits an Event for the keys not applied, whatever the
// reason, and one for the products an apply created or changed, none when
// it changed none. The reasons each key was refused are logged whole too:
// an Event's note is cut at 1024 bytes (BoundedRecorder), and the
// ConfigMap has no status to hold them.
func (r *ProductConfigReconciler) reportApplied(ctx context.Context, s *productConfigState) outcome {
	if len(s.notApplied) > 0 {
		ctrl.LoggerFrom(ctx).Info("SaaSProducts not applied from the products ConfigMap", "reasons", s.notApplied)
		r.Recorder.Eventf(s.cm, nil, corev1.EventTypeWarning, InvalidProductReason, "Apply",
			"Not applied: %s", strings.Join(s.notApplied, "; "))
	}
	if len(s.changed) > 0 {
		r.Recorder.Eventf(s.cm, nil, corev1.EventTypeNormal, ProductsAppliedReason, "Apply",
			"Applied SaaSProduct %s", strings.Join(s.changed, ", "))
	}
	return proceed()
}

// decodeProduct reads one SaaSProduct manifest. It must be exactly that
// kind, with known fields only, so a typo fails here with a clear message
// rather than being dropped by the API server; and it must be the key's
// only document (onlyDocument).
func decodeProduct(data string) (*unstructured.Unstructured, error) {
	manifest, err := onlyDocument(data)
	if err != nil {
		return nil, err
	}
	var typed saasv1alpha1.SaaSProduct
	if err := yaml.UnmarshalStrict([]byte(manifest), &typed); err != nil {
		return nil, fmt.Errorf("not a valid SaaSProduct manifest: %w", err)
	}
	want := saasv1alpha1.GroupVersion.WithKind("SaaSProduct")
	if typed.GroupVersionKind() != want {
		return nil, fmt.Errorf("kind is %q, apiVersion %q; want SaaSProduct, %s", typed.Kind, typed.APIVersion, want.GroupVersion())
	}
	if typed.Name == "" {
		return nil, fmt.Errorf("metadata.name is missing")
	}
	// Apply what the manifest says and nothing more: the typed object would
	// add zero values the merchant never wrote.
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &u.Object); err != nil {
		return nil, err
	}
	return u, nil
}

// onlyDocument returns the one YAML document of a products ConfigMap key:
// the YAML decoders read a stream's first document and silently drop the
// rest, so a key holding several products would apply the first alone,
// and callbacks for the others would meet an unknown product. A key with
// more than one document is refused whole rather than half applied.
// Separators alone and documents holding only comments or blank lines are
// not documents: a key cut from a multi-document file keeps its "---".
// With no document, data is returned as it is, for decodeProduct to refuse.
//
// Each of those decodes expands YAML aliases (a key of 512 KiB aliased 800
// times came to 400 MB, and the controller crashed at each start), so a key
// whose aliases would expand it past maxProductManifestBytes is refused
// first, before any decode.
func onlyDocument(data string) (string, error) {
	if _, err := yamlbound.ExpandedSize([]byte(data), maxProductManifestBytes); err != nil {
		return "", fmt.Errorf("not a valid SaaSProduct manifest: %w", err)
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(data)))
	var documents []string
	for {
		document, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("not a valid SaaSProduct manifest: %w", err)
		}
		if !emptyDocument(document) {
			documents = append(documents, string(document))
		}
	}
	switch len(documents) {
	case 0:
		return data, nil
	case 1:
		return documents[0], nil
	default:
		return "", fmt.Errorf("holds %d documents; give each SaaSProduct its own key", len(documents))
	}
}

// emptyDocument reports whether a YAML document holds nothing: blank lines
// and comments decode to null. One that does not parse holds something,
// so it is counted, and refused, rather than skipped.
func emptyDocument(document []byte) bool {
	var content any
	return yaml.Unmarshal(document, &content) == nil && content == nil
}
