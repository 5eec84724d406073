package lifecycle

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kooper-io/kooper/api/licensekey"
	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// product is one of the two products the sequences buy: a SaaS product,
// whose instances are SaaSTenants, and a licence product, whose instances
// are Licenses. Both follow the same tables (docs/lifecycle.md).
type product struct {
	name, id string
	license  bool
}

var (
	saasProduct    = product{name: "lifecycle-saas", id: "OFFI-LIFECYCLE-SAAS"}
	licenseProduct = product{name: "lifecycle-license", id: "OFFL-LIFECYCLE-LICENSE", license: true}
)

func (p product) String() string {
	if p.license {
		return "licence product"
	}
	return "SaaS product"
}

// kind names p in -lifecycle.skip.
func (p product) kind() string {
	if p.license {
		return "license"
	}
	return "saas"
}

// record is what the test reads of a SaaSTenant or a License.
type record struct {
	exists, deleting     bool
	name                 string
	orderID, orderLineID string
	state                string
	orders               []string
	// expireTime is spec.expireTime of a tenant, spec.notAfter of a licence.
	expireTime *metav1.Time
	// sku and expiry are the controllers' word: status.skuCode, and
	// status.expireTime of a tenant or status.notAfter of a licence.
	sku    string
	expiry *metav1.Time
	// observed says the controller reconciled the current spec successfully.
	observed bool
}

// object is an empty record of p named id, for Get and Delete.
func (p product) object(id string) client.Object {
	if p.license {
		return &saasv1alpha1.License{ObjectMeta: metav1.ObjectMeta{Name: id}}
	}
	return &saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{Name: id}}
}

// read reads instance id around every cache; a missing one reads as the
// zero record.
func (p product) read(ctx context.Context, id string) (record, error) {
	obj := p.object(id)
	err := direct.Get(ctx, client.ObjectKey{Name: id}, obj)
	if apierrors.IsNotFound(err) {
		return record{}, nil
	}
	if err != nil {
		return record{}, err
	}
	return recordOf(obj), nil
}

// list reads every record of p around every cache.
func (p product) list(ctx context.Context) ([]record, error) {
	selector := client.MatchingLabels{saasv1alpha1.ProductLabel: p.name}
	var records []record
	if p.license {
		list := &saasv1alpha1.LicenseList{}
		err := direct.List(ctx, list, selector)
		for i := range list.Items {
			records = append(records, recordOf(&list.Items[i]))
		}
		return records, err
	}
	list := &saasv1alpha1.SaaSTenantList{}
	err := direct.List(ctx, list, selector)
	for i := range list.Items {
		records = append(records, recordOf(&list.Items[i]))
	}
	return records, err
}

func recordOf(obj client.Object) record {
	r := record{exists: true, deleting: !obj.GetDeletionTimestamp().IsZero(), name: obj.GetName()}
	var orders []saasv1alpha1.AppliedOrder
	switch o := obj.(type) {
	case *saasv1alpha1.SaaSTenant:
		r.orderID, r.orderLineID, r.state, r.expireTime = o.Spec.OrderID, o.Spec.OrderLineID, string(o.Spec.State), o.Spec.ExpireTime
		r.sku, r.expiry, orders = o.Status.SKUCode, o.Status.ExpireTime, o.Spec.Orders
		r.observed = o.Status.ObservedGeneration == o.Generation
	case *saasv1alpha1.License:
		r.orderID, r.orderLineID, r.state, r.expireTime = o.Spec.OrderID, o.Spec.OrderLineID, string(o.Spec.State), o.Spec.NotAfter
		r.sku, r.expiry, orders = o.Status.SKUCode, o.Status.NotAfter, o.Spec.Orders
		r.observed = o.Status.ObservedGeneration == o.Generation
	}
	for _, o := range orders {
		r.orders = append(r.orders, o.OrderID)
	}
	return r
}

// createProducts creates kooper's namespace and both products.
func createProducts(ctx context.Context) error {
	if err := direct.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}}); err != nil {
		return fmt.Errorf("failed to create namespace %s: %w", operatorNamespace, err)
	}
	for _, p := range []product{saasProduct, licenseProduct} {
		if err := p.create(ctx); err != nil {
			return err
		}
	}
	return nil
}

// keysSecret names p's own keys Secret: a sequence may delete it, and
// deleting one shared by both products would hold it for the other.
func (p product) keysSecret() string { return p.name + "-keys" }

// create creates p's keys Secret (the basic key, the open-API AK/SK, a
// licence signing key) and p, with the three plans.
func (p product) create(ctx context.Context) error {
	_, signingKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	signingPEM, err := licensekey.MarshalPrivateKeyPEM(signingKey)
	if err != nil {
		return err
	}
	objects := []client.Object{
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: p.keysSecret()},
			StringData: map[string]string{
				saasv1alpha1.BasicKeySecretKey:          basicKey,
				saasv1alpha1.AccessKeyIDSecretKey:       accessKeyID,
				saasv1alpha1.SecretAccessKeySecretKey:   secretAccessKey,
				saasv1alpha1.LicenseSigningKeySecretKey: string(signingPEM),
			},
		},
		p.resource(plans),
	}
	for _, obj := range objects {
		if err := direct.Create(ctx, obj); err != nil {
			return fmt.Errorf("failed to create %T %s: %w", obj, obj.GetName(), err)
		}
	}
	return nil
}

// offer sets p's plans to skus, as a merchant editing the product would.
func (p product) offer(ctx context.Context, skus []string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		current := &saasv1alpha1.SaaSProduct{}
		if err := direct.Get(ctx, client.ObjectKey{Name: p.name}, current); err != nil {
			return err
		}
		current.Spec.Plans = p.resource(skus).Spec.Plans
		return direct.Update(ctx, current)
	})
}

// resource is p's SaaSProduct offering skus.
func (p product) resource(skus []string) *saasv1alpha1.SaaSProduct {
	sp := &saasv1alpha1.SaaSProduct{
		ObjectMeta: metav1.ObjectMeta{Name: p.name},
		Spec: saasv1alpha1.SaaSProductSpec{
			ProductID: p.id, Type: saasv1alpha1.ProductTypeSaaS, KeysSecretName: p.keysSecret(),
			URLs: &saasv1alpha1.URLTemplates{FrontEndURL: "https://{{.InstanceID}}." + p.name + ".example.com"},
		},
	}
	if p.license {
		sp.Spec.Type = saasv1alpha1.ProductTypeLicense
	} else {
		sp.Spec.Workload = &saasv1alpha1.WorkloadTemplate{
			Image: "registry.example.com/app:1.0",
			Ports: []saasv1alpha1.WorkloadPort{{Name: "http", ContainerPort: 8080}},
		}
	}
	for _, sku := range skus {
		plan := saasv1alpha1.Plan{SKUCode: sku, Replicas: 1}
		if p.license {
			plan = saasv1alpha1.Plan{SKUCode: sku, License: &saasv1alpha1.LicenseTerms{Features: []string{"export", sku}, ValidityDays: 365}}
		}
		sp.Spec.Plans = append(sp.Spec.Plans, plan)
	}
	return sp
}
