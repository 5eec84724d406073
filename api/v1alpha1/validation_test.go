package v1alpha1_test

import (
	"fmt"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

var nameCounter atomic.Int64

// uniqueName keeps cluster-scoped test objects apart.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, nameCounter.Add(1))
}

func validProduct() *saasv1alpha1.SaaSProduct {
	return &saasv1alpha1.SaaSProduct{
		ObjectMeta: metav1.ObjectMeta{Name: uniqueName("product")},
		Spec: saasv1alpha1.SaaSProductSpec{
			ProductID:      "OFFI846204237451911168",
			KeysSecretName: "keys",
			URLs:           &saasv1alpha1.URLTemplates{FrontEndURL: "https://{{.InstanceID}}.app.example.com"},
			Workload: &saasv1alpha1.WorkloadTemplate{
				Image: "registry.example.com/app:1.0",
				Ports: []saasv1alpha1.WorkloadPort{{Name: "http", ContainerPort: 8080}},
			},
			Plans: []saasv1alpha1.Plan{{SKUCode: "basic"}},
		},
	}
}

func validLicenseProduct() *saasv1alpha1.SaaSProduct {
	return &saasv1alpha1.SaaSProduct{
		ObjectMeta: metav1.ObjectMeta{Name: uniqueName("licproduct")},
		Spec: saasv1alpha1.SaaSProductSpec{
			ProductID:      "OFFI900000000000000001",
			Type:           saasv1alpha1.ProductTypeLicense,
			KeysSecretName: "keys",
			Plans: []saasv1alpha1.Plan{{
				SKUCode: "standard",
				License: &saasv1alpha1.LicenseTerms{Features: []string{"export"}},
			}},
		},
	}
}

func validTenant() *saasv1alpha1.SaaSTenant {
	name := uniqueName("i-tenant")
	return &saasv1alpha1.SaaSTenant{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: saasv1alpha1.SaaSTenantSpec{
			InstanceID:  name,
			ProductName: "crm",
			OrderID:     "CS2211181819B4LVS",
			OrderLineID: "CS2211181819B4LVS-000001",
		},
	}
}

func validLicense() *saasv1alpha1.License {
	return &saasv1alpha1.License{
		ObjectMeta: metav1.ObjectMeta{Name: uniqueName("l-licence")},
		Spec: saasv1alpha1.LicenseSpec{
			InstanceID:  "RA2211181819B4LVS",
			ProductName: "cad-desktop",
			EventID:     "8a1e5694c0d2b7c8",
		},
	}
}

func TestSchemaRejectsInvalidObjectsOnCreate(t *testing.T) {
	cases := []struct {
		name        string
		object      client.Object
		wantMessage string
	}{
		{
			name:        "tenant name differs from instanceId",
			object:      with(validTenant(), func(o *saasv1alpha1.SaaSTenant) { o.Name = uniqueName("other") }),
			wantMessage: "metadata.name must equal spec.instanceId",
		},
		{
			name:        "tenant without orderId",
			object:      without(validTenant(), "spec", "orderId"),
			wantMessage: "spec.orderId: Required value",
		},
		{
			name:        "tenant with an empty orderId",
			object:      with(validTenant(), func(o *saasv1alpha1.SaaSTenant) { o.Spec.OrderID = "" }),
			wantMessage: "spec.orderId: Invalid value",
		},
		{
			name:        "tenant with an unknown state",
			object:      with(validTenant(), func(o *saasv1alpha1.SaaSTenant) { o.Spec.State = "Paused" }),
			wantMessage: `spec.state: Unsupported value: "Paused": supported values: "Active", "Frozen", "Released"`,
		},
		{
			name:        "tenant with an unknown mode",
			object:      with(validTenant(), func(o *saasv1alpha1.SaaSTenant) { o.Spec.Mode = "Test" }),
			wantMessage: `spec.mode: Unsupported value: "Test"`,
		},
		{
			name: "tenant instanceId with upper case",
			object: with(validTenant(), func(o *saasv1alpha1.SaaSTenant) {
				o.Name = "i-abc"
				o.Spec.InstanceID = "I-ABC"
			}),
			wantMessage: "spec.instanceId: Invalid value",
		},
		{
			name: "tenant order with an unknown activity",
			object: with(validTenant(), func(o *saasv1alpha1.SaaSTenant) {
				o.Spec.Orders = []saasv1alpha1.AppliedOrder{{OrderID: "O1", Activity: "Expire", ReceivedTime: metav1.Now()}}
			}),
			wantMessage: `spec.orders[0].activity: Unsupported value: "Expire"`,
		},
		{
			name: "tenant with the same order twice",
			object: with(validTenant(), func(o *saasv1alpha1.SaaSTenant) {
				order := saasv1alpha1.AppliedOrder{OrderID: "O1", Activity: saasv1alpha1.ActivityRefreshInstance, ReceivedTime: metav1.Now()}
				o.Spec.Orders = []saasv1alpha1.AppliedOrder{order, order}
			}),
			wantMessage: "spec.orders[1]: Duplicate value",
		},
		{
			name:        "product without keysSecretName",
			object:      without(validProduct(), "spec", "keysSecretName"),
			wantMessage: "spec.keysSecretName: Required value",
		},
		{
			name:        "product with an unknown type",
			object:      with(validProduct(), func(o *saasv1alpha1.SaaSProduct) { o.Spec.Type = "Saas" }),
			wantMessage: `spec.type: Unsupported value: "Saas": supported values: "SaaS", "License"`,
		},
		{
			name:        "plan with too many replicas",
			object:      with(validProduct(), func(o *saasv1alpha1.SaaSProduct) { o.Spec.Plans[0].Replicas = 101 }),
			wantMessage: "spec.plans[0].replicas: Invalid value: 101: spec.plans[0].replicas in body should be less than or equal to 100",
		},
		{
			name:        "plan with negative replicas",
			object:      with(validProduct(), func(o *saasv1alpha1.SaaSProduct) { o.Spec.Plans[0].Replicas = -1 }),
			wantMessage: "spec.plans[0].replicas in body should be greater than or equal to 0",
		},
		{
			name:        "product without plans",
			object:      with(validProduct(), func(o *saasv1alpha1.SaaSProduct) { o.Spec.Plans = nil }),
			wantMessage: "spec.plans: Required value",
		},
		{
			name: "two plans with one skuCode",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Plans = append(o.Spec.Plans, saasv1alpha1.Plan{SKUCode: "basic"})
			}),
			wantMessage: "spec.plans[1]: Duplicate value",
		},
		{
			name:        "SaaS product without workload",
			object:      with(validProduct(), func(o *saasv1alpha1.SaaSProduct) { o.Spec.Workload = nil }),
			wantMessage: "workload is required for products of type SaaS",
		},
		{
			name:        "SaaS product without urls",
			object:      with(validProduct(), func(o *saasv1alpha1.SaaSProduct) { o.Spec.URLs = nil }),
			wantMessage: "urls is required for products of type SaaS",
		},
		{
			name:        "License product plan without licence terms",
			object:      with(validLicenseProduct(), func(o *saasv1alpha1.SaaSProduct) { o.Spec.Plans[0].License = nil }),
			wantMessage: "every plan of a License product needs license terms",
		},
		{
			name: "debug skuCode that names no plan",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Debug = &saasv1alpha1.DebugPolicy{SKUCode: "gold"}
			}),
			wantMessage: "debug.skuCode must name one of the plans",
		},
		{
			name: "Prometheus meter without a query",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: []saasv1alpha1.Meter{{Name: "calls", Source: saasv1alpha1.MeterPrometheus}}}
			}),
			wantMessage: "query is required for, and only for, source Prometheus",
		},
		{
			name: "built-in meter with a query",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: []saasv1alpha1.Meter{{Name: "hours", Source: saasv1alpha1.MeterTenantHours, Query: "up"}}}
			}),
			wantMessage: "query is required for, and only for, source Prometheus",
		},
		{
			name: "meter with five decimals",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: []saasv1alpha1.Meter{{Name: "hours", Source: saasv1alpha1.MeterTenantHours, Decimals: ptr.To[int32](5)}}}
			}),
			wantMessage: "should be less than or equal to 4",
		},
		{
			name: "meter with an unknown source",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: []saasv1alpha1.Meter{{Name: "hours", Source: "GPUHours"}}}
			}),
			wantMessage: `spec.metering.meters[0].source: Unsupported value: "GPUHours"`,
		},
		{
			name: "two meters with one name",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				m := saasv1alpha1.Meter{Name: "hours", Source: saasv1alpha1.MeterTenantHours}
				o.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: []saasv1alpha1.Meter{m, m}}
			}),
			wantMessage: "spec.metering.meters[1]: Duplicate value",
		},
		{
			name: "prometheusUrl without a web scheme",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Metering = &saasv1alpha1.MeteringSpec{PrometheusURL: "prom:9090", Meters: []saasv1alpha1.Meter{{Name: "hours", Source: saasv1alpha1.MeterTenantHours}}}
			}),
			wantMessage: "prometheusUrl must start with https:// or http://",
		},
		{
			name:        "frontEndUrl without a web scheme",
			object:      with(validProduct(), func(o *saasv1alpha1.SaaSProduct) { o.Spec.URLs.FrontEndURL = "ftp://x" }),
			wantMessage: "frontEndUrl must start with https:// or http://",
		},
		{
			name: "unknown freeze behaviour",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Lifecycle.Freeze.Behavior = "Delete"
			}),
			wantMessage: `spec.lifecycle.freeze.behavior: Unsupported value: "Delete"`,
		},
		{
			name: "unknown retention policy",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Lifecycle.Release.RetentionPolicy = "Snapshot"
			}),
			wantMessage: `spec.lifecycle.release.retentionPolicy: Unsupported value: "Snapshot"`,
		},
		{
			name: "unknown hand-deletion policy",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Lifecycle.Release.OnHandDeletion = "Orphan"
			}),
			wantMessage: `spec.lifecycle.release.onHandDeletion: Unsupported value: "Orphan": supported values: "Retain", "Delete"`,
		},
		{
			name: "port out of range",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Ports[0].ContainerPort = 70000
			}),
			wantMessage: "spec.workload.ports[0].containerPort in body should be less than or equal to 65535",
		},
		{
			name: "quota with too many entries",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Plans[0].Quota = corev1.ResourceList{}
				for i := range 33 {
					o.Spec.Plans[0].Quota[corev1.ResourceName(fmt.Sprintf("count/x%d", i))] = resource.MustParse("1")
				}
			}),
			wantMessage: "spec.plans[0].quota: Too many: 33: must have at most 32 items",
		},
		{
			name:        "licence with neither orderId nor eventId",
			object:      with(validLicense(), func(o *saasv1alpha1.License) { o.Spec.EventID = "" }),
			wantMessage: "a licence needs an orderId (newInstance) or an eventId (getLicenseAsync)",
		},
		{
			name: "licence window that ends before it starts",
			object: with(validLicense(), func(o *saasv1alpha1.License) {
				start := metav1.NewTime(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
				end := metav1.NewTime(start.AddDate(0, 0, -1))
				o.Spec.NotBefore, o.Spec.NotAfter = &start, &end
			}),
			wantMessage: "notBefore must be earlier than notAfter",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			err := k8sClient.Create(ctx(t), tc.object)
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got %v", err)
			g.Expect(err.Error()).To(ContainSubstring(tc.wantMessage))
		})
	}
}

func TestSchemaRejectsInvalidUpdates(t *testing.T) {
	cases := []struct {
		name        string
		object      client.Object
		mutate      func(client.Object)
		wantMessage string
	}{
		{
			name:        "changing a tenant's instanceId",
			object:      validTenant(),
			mutate:      tenantChange(func(o *saasv1alpha1.SaaSTenant) { o.Spec.InstanceID = "i-other" }),
			wantMessage: "instanceId is immutable",
		},
		{
			name:        "changing a tenant's orderId",
			object:      validTenant(),
			mutate:      tenantChange(func(o *saasv1alpha1.SaaSTenant) { o.Spec.OrderID = "CS0000000000OTHER" }),
			wantMessage: "orderId is immutable",
		},
		{
			name:        "changing a tenant's orderLineId",
			object:      validTenant(),
			mutate:      tenantChange(func(o *saasv1alpha1.SaaSTenant) { o.Spec.OrderLineID = "CS2211181819B4LVS-000002" }),
			wantMessage: "orderLineId is immutable",
		},
		{
			name:        "changing a tenant's product",
			object:      validTenant(),
			mutate:      tenantChange(func(o *saasv1alpha1.SaaSTenant) { o.Spec.ProductName = "erp" }),
			wantMessage: "productName is immutable",
		},
		{
			name:        "reactivating a released tenant",
			object:      with(validTenant(), func(o *saasv1alpha1.SaaSTenant) { o.Spec.State = saasv1alpha1.StateReleased }),
			mutate:      tenantChange(func(o *saasv1alpha1.SaaSTenant) { o.Spec.State = saasv1alpha1.StateActive }),
			wantMessage: "a released tenant cannot change state",
		},
		{
			name:        "turning a debug tenant into a production one",
			object:      with(validTenant(), func(o *saasv1alpha1.SaaSTenant) { o.Spec.Mode = saasv1alpha1.ModeDebug }),
			mutate:      tenantChange(func(o *saasv1alpha1.SaaSTenant) { o.Spec.Mode = saasv1alpha1.ModeProduction }),
			wantMessage: "mode is immutable",
		},
		{
			name:        "changing a product's productId",
			object:      validProduct(),
			mutate:      productChange(func(o *saasv1alpha1.SaaSProduct) { o.Spec.ProductID = "OFFI000" }),
			wantMessage: "productId is immutable",
		},
		{
			name:        "changing a product's namespacePrefix",
			object:      validProduct(),
			mutate:      productChange(func(o *saasv1alpha1.SaaSProduct) { o.Spec.NamespacePrefix = "t" }),
			wantMessage: "namespacePrefix is immutable",
		},
		{
			name:        "changing a licence's eventId",
			object:      validLicense(),
			mutate:      licenseChange(func(o *saasv1alpha1.License) { o.Spec.EventID = "other" }),
			wantMessage: "eventId is immutable",
		},
		{
			name:        "removing a licence's eventId",
			object:      with(validLicense(), func(o *saasv1alpha1.License) { o.Spec.OrderID = "CS1" }),
			mutate:      licenseChange(func(o *saasv1alpha1.License) { o.Spec.EventID = "" }),
			wantMessage: "eventId is immutable",
		},
		{
			name:        "reactivating a released licence",
			object:      with(validLicense(), func(o *saasv1alpha1.License) { o.Spec.State = saasv1alpha1.StateReleased }),
			mutate:      licenseChange(func(o *saasv1alpha1.License) { o.Spec.State = saasv1alpha1.StateFrozen }),
			wantMessage: "a released licence cannot change state",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(k8sClient.Create(ctx(t), tc.object)).To(Succeed())
			tc.mutate(tc.object)
			err := k8sClient.Update(ctx(t), tc.object)
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got %v", err)
			g.Expect(err.Error()).To(ContainSubstring(tc.wantMessage))
		})
	}
}

func TestSchemaAllowsLifecycleUpdates(t *testing.T) {
	g := NewWithT(t)
	tenant := validTenant()
	g.Expect(k8sClient.Create(ctx(t), tenant)).To(Succeed())

	expiry := metav1.NewTime(time.Date(2027, 11, 24, 2, 36, 18, 0, time.UTC))
	tenant.Spec.State = saasv1alpha1.StateFrozen
	tenant.Spec.ExpireTime = &expiry
	tenant.Spec.Orders = append(tenant.Spec.Orders, saasv1alpha1.AppliedOrder{
		OrderID: "CS2211181819RENEW", Activity: saasv1alpha1.ActivityRefreshInstance,
		Scene: saasv1alpha1.SceneRenewal, ExpireTime: &expiry, ReceivedTime: metav1.Now(),
	})
	g.Expect(k8sClient.Update(ctx(t), tenant)).To(Succeed())

	tenant.Spec.State = saasv1alpha1.StateReleased
	g.Expect(k8sClient.Update(ctx(t), tenant)).To(Succeed())
}

func TestSchemaFillsDefaults(t *testing.T) {
	g := NewWithT(t)
	product := validProduct()
	g.Expect(k8sClient.Create(ctx(t), product)).To(Succeed())

	got := &saasv1alpha1.SaaSProduct{}
	g.Expect(k8sClient.Get(ctx(t), client.ObjectKeyFromObject(product), got)).To(Succeed())
	g.Expect(got.Spec.Type).To(Equal(saasv1alpha1.ProductTypeSaaS))
	g.Expect(got.Spec.NamespacePrefix).To(Equal("tenant"))
	g.Expect(got.Spec.Plans[0].Replicas).To(Equal(int32(1)))
	g.Expect(got.Spec.Workload.ImagePullPolicy).To(Equal(corev1.PullIfNotPresent))
	g.Expect(got.Spec.Workload.Ports[0].Protocol).To(Equal(corev1.ProtocolTCP))
	g.Expect(got.Spec.Lifecycle.Freeze.Behavior).To(Equal(saasv1alpha1.FreezeScaleToZero))
	g.Expect(got.Spec.Lifecycle.Release.RetentionPolicy).To(Equal(saasv1alpha1.RetainData))
	g.Expect(got.Spec.Lifecycle.Release.RetentionDays).To(Equal(ptr.To[int32](15)))
	g.Expect(got.Spec.Lifecycle.Release.OnHandDeletion).To(Equal(saasv1alpha1.HandDeletionRetain))
	g.Expect(got.Spec.Lifecycle.Expiry.Action).To(Equal(saasv1alpha1.ExpiryFreeze))
	g.Expect(got.Spec.Lifecycle.Expiry.GraceSeconds).To(Equal(int32(259200)))

	tenant := validTenant()
	g.Expect(k8sClient.Create(ctx(t), tenant)).To(Succeed())
	g.Expect(tenant.Spec.State).To(Equal(saasv1alpha1.StateActive))
	g.Expect(tenant.Spec.Mode).To(Equal(saasv1alpha1.ModeProduction))

	licProduct := validLicenseProduct()
	g.Expect(k8sClient.Create(ctx(t), licProduct)).To(Succeed())
	g.Expect(licProduct.Spec.Plans[0].License.ValidityDays).To(Equal(int32(365)))
	g.Expect(licProduct.Spec.Plans[0].License.DeviceBinding).To(Equal(saasv1alpha1.DeviceBindingOptional))
}

// without returns obj with one field removed, as a client that never sent it would.
func without(obj client.Object, fields ...string) *unstructured.Unstructured {
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		panic(err)
	}
	u := &unstructured.Unstructured{Object: content}
	u.SetGroupVersionKind(saasv1alpha1.GroupVersion.WithKind(reflect.TypeOf(obj).Elem().Name()))
	unstructured.RemoveNestedField(u.Object, fields...)
	return u
}

// with applies a change to a fresh object, so table rows read as "valid, except …".
func with[T client.Object](obj T, change func(T)) T {
	change(obj)
	return obj
}

func tenantChange(change func(*saasv1alpha1.SaaSTenant)) func(client.Object) {
	return func(o client.Object) { change(o.(*saasv1alpha1.SaaSTenant)) }
}

func productChange(change func(*saasv1alpha1.SaaSProduct)) func(client.Object) {
	return func(o client.Object) { change(o.(*saasv1alpha1.SaaSProduct)) }
}

func licenseChange(change func(*saasv1alpha1.License)) func(client.Object) {
	return func(o client.Object) { change(o.(*saasv1alpha1.License)) }
}

func TestSchemaFillsMeterDefaults(t *testing.T) {
	g := NewWithT(t)
	product := with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
		o.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: []saasv1alpha1.Meter{
			{Name: "duration", Source: saasv1alpha1.MeterTenantHours},
			{Name: "api_calls", Source: saasv1alpha1.MeterPrometheus, Query: `sum(increase(calls{namespace="{{.Namespace}}"}[{{.Window}}]))`},
		}}
	})
	g.Expect(k8sClient.Create(ctx(t), product)).To(Succeed())
	for _, m := range product.Spec.Metering.Meters {
		g.Expect(m.Decimals).To(Equal(ptr.To[int32](4)))
		g.Expect(m.Rounding).To(Equal(saasv1alpha1.RoundHalfUp))
	}
}
