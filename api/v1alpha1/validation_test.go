package v1alpha1_test

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
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

// chartProduct is a valid SaaS product whose tenants are a Helm chart from
// an OCI registry, changed by change.
func chartProduct(change func(*saasv1alpha1.ChartTemplate)) *saasv1alpha1.SaaSProduct {
	return with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
		o.Spec.Workload = nil
		o.Spec.Chart = &saasv1alpha1.ChartTemplate{
			OCI:    &saasv1alpha1.OCIChartSource{Repository: "swr.cn-north-4.myhuaweicloud.com/acme/charts/crm", Tag: "1.2.0"},
			Values: &apiextensionsv1.JSON{Raw: []byte(`{"web":{"replicas":2}}`)},
		}
		o.Spec.Plans[0].Values = &apiextensionsv1.JSON{Raw: []byte(`{"worker":{"enabled":true}}`)}
		if change != nil {
			change(o.Spec.Chart)
		}
	})
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
			name:        "expiry notices under a minute before",
			object:      with(validProduct(), func(o *saasv1alpha1.SaaSProduct) { o.Spec.Lifecycle.Expiry.NoticeSeconds = []int32{86400, 59} }),
			wantMessage: "spec.lifecycle.expiry.noticeSeconds[1]: Invalid value: 59",
		},
		{
			name: "expiry notices listing a threshold twice",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Lifecycle.Expiry.NoticeSeconds = []int32{86400, 86400}
			}),
			wantMessage: "spec.lifecycle.expiry.noticeSeconds[1]: Duplicate value: 86400",
		},
		{
			name: "a directory's expiryNotice neither Mounted nor NotMounted",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Directory = &saasv1alpha1.DirectoryMount{ExpiryNotice: "Yes"}
			}),
			wantMessage: `spec.workload.directory.expiryNotice: Unsupported value: "Yes"`,
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
			wantMessage: "a SaaS product needs exactly one of workload and chart",
		},
		{
			name: "SaaS product with both workload and chart",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Chart = &saasv1alpha1.ChartTemplate{SecretRef: &saasv1alpha1.ChartSecretRef{Name: "crm-chart"}}
			}),
			wantMessage: "a SaaS product needs exactly one of workload and chart",
		},
		{
			name:        "chart with both oci and secretRef",
			object:      chartProduct(func(c *saasv1alpha1.ChartTemplate) { c.SecretRef = &saasv1alpha1.ChartSecretRef{Name: "crm-chart"} }),
			wantMessage: "chart needs exactly one of oci and secretRef",
		},
		{
			name:        "chart with neither oci nor secretRef",
			object:      chartProduct(func(c *saasv1alpha1.ChartTemplate) { c.OCI = nil }),
			wantMessage: "chart needs exactly one of oci and secretRef",
		},
		{
			name:        "OCI chart with both tag and digest",
			object:      chartProduct(func(c *saasv1alpha1.ChartTemplate) { c.OCI.Digest = "sha256:" + strings.Repeat("a", 64) }),
			wantMessage: "oci needs exactly one of tag and digest",
		},
		{
			name:        "OCI chart repository with a scheme",
			object:      chartProduct(func(c *saasv1alpha1.ChartTemplate) { c.OCI.Repository = "oci://swr.example.com/acme/crm" }),
			wantMessage: "spec.chart.oci.repository",
		},
		{
			name: "License product with a chart",
			object: with(validLicenseProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Chart = &saasv1alpha1.ChartTemplate{SecretRef: &saasv1alpha1.ChartSecretRef{Name: "crm-chart"}}
			}),
			wantMessage: "chart is for products of type SaaS",
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
			name: "readiness probe on a port the workload does not have",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.ReadinessProbe = &saasv1alpha1.WorkloadProbe{Path: "/ready", Port: "admin"}
			}),
			wantMessage: "readinessProbe.port must name a TCP port of workload.ports",
		},
		{
			name: "liveness probe on a UDP port",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Ports = append(o.Spec.Workload.Ports, saasv1alpha1.WorkloadPort{Name: "stats", ContainerPort: 8125, Protocol: corev1.ProtocolUDP})
				o.Spec.Workload.LivenessProbe = &saasv1alpha1.WorkloadProbe{Path: "/healthz", Port: "stats"}
			}),
			wantMessage: "livenessProbe.port must name a TCP port of workload.ports",
		},
		{
			name: "startup probe on a port the workload does not have",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.StartupProbe = &saasv1alpha1.WorkloadProbe{Path: "/healthz", Port: "https"}
			}),
			wantMessage: "startupProbe.port must name a TCP port of workload.ports",
		},
		{
			name: "liveness probe that needs two successes",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.LivenessProbe = &saasv1alpha1.WorkloadProbe{Path: "/healthz", Port: "http", SuccessThreshold: 2}
			}),
			wantMessage: "livenessProbe.successThreshold must be 1",
		},
		{
			name: "startup probe that needs two successes",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.StartupProbe = &saasv1alpha1.WorkloadProbe{Path: "/healthz", Port: "http", SuccessThreshold: 2}
			}),
			wantMessage: "startupProbe.successThreshold must be 1",
		},
		{
			name: "probe path without a leading slash",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.ReadinessProbe = &saasv1alpha1.WorkloadProbe{Path: "ready", Port: "http"}
			}),
			wantMessage: "spec.workload.readinessProbe.path in body should match '^/'",
		},
		{
			name: "probe with one success more than the bound",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.ReadinessProbe = &saasv1alpha1.WorkloadProbe{Path: "/ready", Port: "http", SuccessThreshold: 11}
			}),
			wantMessage: "spec.workload.readinessProbe.successThreshold in body should be less than or equal to 10",
		},
		{
			name: "probe with one failure more than the bound",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.StartupProbe = &saasv1alpha1.WorkloadProbe{Path: "/healthz", Port: "http", FailureThreshold: 1001}
			}),
			wantMessage: "spec.workload.startupProbe.failureThreshold in body should be less than or equal to 1000",
		},
		{
			name: "probe with a timeout one second over the bound",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.LivenessProbe = &saasv1alpha1.WorkloadProbe{Path: "/healthz", Port: "http", TimeoutSeconds: 601}
			}),
			wantMessage: "spec.workload.livenessProbe.timeoutSeconds in body should be less than or equal to 600",
		},
		{
			name: "probe with an initial delay one second over the bound",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.LivenessProbe = &saasv1alpha1.WorkloadProbe{Path: "/healthz", Port: "http", InitialDelaySeconds: 3601}
			}),
			wantMessage: "spec.workload.livenessProbe.initialDelaySeconds in body should be less than or equal to 3600",
		},
		{
			name: "config with both a ConfigMap and inline files",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Config = &saasv1alpha1.WorkloadConfig{MountPath: "/etc/crm", ConfigMapName: "crm-config",
					Files: []saasv1alpha1.ConfigFile{{Name: "app.yaml", Content: "x"}}}
			}),
			wantMessage: "config takes exactly one of configMapName and files",
		},
		{
			name: "config with neither a ConfigMap nor inline files",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Config = &saasv1alpha1.WorkloadConfig{MountPath: "/etc/crm"}
			}),
			wantMessage: "config takes exactly one of configMapName and files",
		},
		{
			name: "config mounted at the root",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Config = &saasv1alpha1.WorkloadConfig{MountPath: "/", ConfigMapName: "crm-config"}
			}),
			wantMessage: "spec.workload.config.mountPath in body should be at least 2 chars long",
		},
		{
			name: "config mount path with a trailing slash",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Config = &saasv1alpha1.WorkloadConfig{MountPath: "/etc/crm/", ConfigMapName: "crm-config"}
			}),
			wantMessage: "spec.workload.config.mountPath in body should match",
		},
		{
			name: "config mounted where the data volume is",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Storage = &saasv1alpha1.StorageTemplate{Size: resource.MustParse("1Gi"), MountPath: "/data"}
				o.Spec.Workload.Config = &saasv1alpha1.WorkloadConfig{MountPath: "/data", ConfigMapName: "crm-config"}
			}),
			wantMessage: "config.mountPath must be neither storage.mountPath nor a directory above it",
		},
		{
			name: "config mounted above the data volume",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Storage = &saasv1alpha1.StorageTemplate{Size: resource.MustParse("1Gi"), MountPath: "/srv/data"}
				o.Spec.Workload.Config = &saasv1alpha1.WorkloadConfig{MountPath: "/srv", ConfigMapName: "crm-config"}
			}),
			wantMessage: "config.mountPath must be neither storage.mountPath nor a directory above it",
		},
		{
			name: "an SSO gateway without the directory",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.SSO = &saasv1alpha1.WorkloadSSO{Gateway: &saasv1alpha1.SSOGateway{}}
			}),
			wantMessage: "sso needs directory: the gateway reads the SSO settings and the directory mounted there",
		},
		{
			name: "sso without a gateway",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Directory = &saasv1alpha1.DirectoryMount{}
				o.Spec.Workload.SSO = &saasv1alpha1.WorkloadSSO{}
			}),
			wantMessage: "sso needs gateway, kooper's login gateway, the only way it signs users in so far (gateway: {} takes every default)",
		},
		{
			name: "an SSO gateway on a workload port",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Directory = &saasv1alpha1.DirectoryMount{}
				o.Spec.Workload.SSO = &saasv1alpha1.WorkloadSSO{Gateway: &saasv1alpha1.SSOGateway{Port: o.Spec.Workload.Ports[0].ContainerPort}}
			}),
			wantMessage: "sso.gateway.port (default 4180) must differ from every workload port",
		},
		{
			name: "an SSO gateway's default port on a workload port",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Directory = &saasv1alpha1.DirectoryMount{}
				o.Spec.Workload.Ports[0].ContainerPort = 4180
				o.Spec.Workload.SSO = &saasv1alpha1.WorkloadSSO{Gateway: &saasv1alpha1.SSOGateway{}}
			}),
			wantMessage: "sso.gateway.port (default 4180) must differ from every workload port",
		},
		{
			// Issue 32's trial: the Service's port then went to the app,
			// past the gateway, and the product said Ready.
			name: "a workload port named as the SSO gateway's",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Directory = &saasv1alpha1.DirectoryMount{}
				o.Spec.Workload.Ports[0].Name = "kooper-gateway"
				o.Spec.Workload.SSO = &saasv1alpha1.WorkloadSSO{Gateway: &saasv1alpha1.SSOGateway{}}
			}),
			wantMessage: "with sso.gateway, no workload port may be named kooper-gateway: that is the gateway's port, which the tenant's Service sends traffic to",
		},
		{
			name: "config mounted where the directory is (its default)",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Directory = &saasv1alpha1.DirectoryMount{}
				o.Spec.Workload.Config = &saasv1alpha1.WorkloadConfig{MountPath: "/etc/kooper", ConfigMapName: "crm-config"}
			}),
			wantMessage: "config.mountPath must be neither directory.mountPath nor a directory above it",
		},
		{
			name: "config file named ..",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Config = &saasv1alpha1.WorkloadConfig{MountPath: "/etc/crm", Files: []saasv1alpha1.ConfigFile{{Name: "..", Content: "x"}}}
			}),
			wantMessage: "name must not be '.', '..' or start with '..'",
		},
		{
			name: "config file name with a slash",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Config = &saasv1alpha1.WorkloadConfig{MountPath: "/etc/crm", Files: []saasv1alpha1.ConfigFile{{Name: "conf/app.yaml", Content: "x"}}}
			}),
			wantMessage: "spec.workload.config.files[0].name in body should match",
		},
		{
			name: "two config files with one name",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				f := saasv1alpha1.ConfigFile{Name: "app.yaml", Content: "x"}
				o.Spec.Workload.Config = &saasv1alpha1.WorkloadConfig{MountPath: "/etc/crm", Files: []saasv1alpha1.ConfigFile{f, f}}
			}),
			wantMessage: "spec.workload.config.files[1]: Duplicate value",
		},
		{
			name: "one config file more than the bound",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Config = &saasv1alpha1.WorkloadConfig{MountPath: "/etc/crm", Files: configFiles(17, 1)}
			}),
			wantMessage: "spec.workload.config.files: Too many: 17: must have at most 16 items",
		},
		{
			name: "config file one character over the bound",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Config = &saasv1alpha1.WorkloadConfig{MountPath: "/etc/crm", Files: configFiles(1, 32769)}
			}),
			wantMessage: "spec.workload.config.files[0].content: Too long: may not be more than 32768",
		},
		{
			name: "config ConfigMap name that is not a DNS name",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Config = &saasv1alpha1.WorkloadConfig{MountPath: "/etc/crm", ConfigMapName: "CRM_Config"}
			}),
			wantMessage: "spec.workload.config.configMapName in body should match",
		},
		{
			name: "a rollout wave of 0 tenants",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Rollout = &saasv1alpha1.RolloutPolicy{MaxUnavailableTenants: ptr.To(intstr.FromInt32(0))}
			}),
			wantMessage: "maxUnavailableTenants must be a count of at least 1 and at most 2147483647 (a number, unquoted) or a percentage from 1% to 100%",
		},
		{
			name: "a rollout wave of 0%",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Rollout = &saasv1alpha1.RolloutPolicy{MaxUnavailableTenants: ptr.To(intstr.FromString("0%"))}
			}),
			wantMessage: "maxUnavailableTenants must be a count of at least 1",
		},
		{
			name: "a rollout wave of 150%",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Rollout = &saasv1alpha1.RolloutPolicy{MaxUnavailableTenants: ptr.To(intstr.FromString("150%"))}
			}),
			wantMessage: "maxUnavailableTenants must be a count of at least 1",
		},
		{
			name: "a rollout wave that is not a percentage",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Rollout = &saasv1alpha1.RolloutPolicy{MaxUnavailableTenants: ptr.To(intstr.FromString("ten"))}
			}),
			wantMessage: "maxUnavailableTenants must be a count of at least 1",
		},
		{
			name: "a rollout deadline under 10 seconds",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Rollout = &saasv1alpha1.RolloutPolicy{ProgressDeadlineSeconds: ptr.To(int32(5))}
			}),
			wantMessage: "spec.rollout.progressDeadlineSeconds: Invalid value",
		},
		{
			name:        "licence with neither orderId nor eventId",
			object:      with(validLicense(), func(o *saasv1alpha1.License) { o.Spec.EventID = "" }),
			wantMessage: "a licence needs an orderId (newInstance) or an eventId (getLicenseAsync)",
		},
		{
			// Issue 28: a ReadWriteOnce disk attaches to one node; the
			// sample's Professional plan once ran 3 replicas on one.
			name: "plan of 3 replicas on a ReadWriteOnce volume",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Storage = &saasv1alpha1.StorageTemplate{Size: resource.MustParse("5Gi"), MountPath: "/data"}
				o.Spec.Plans = append(o.Spec.Plans, saasv1alpha1.Plan{SKUCode: "pro", Replicas: 3})
			}),
			wantMessage: "spec.plans: Invalid value: a plan with more than one replica needs workload.storage.accessMode ReadWriteMany",
		},
		{
			name: "plan of 2 replicas on a ReadWriteOncePod volume",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Storage = &saasv1alpha1.StorageTemplate{Size: resource.MustParse("5Gi"), MountPath: "/data", AccessMode: corev1.ReadWriteOncePod}
				o.Spec.Plans[0].Replicas = 2
			}),
			wantMessage: "(Multi-Attach)",
		},
		{
			name: "storage access mode ReadOnlyMany",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Storage = &saasv1alpha1.StorageTemplate{Size: resource.MustParse("5Gi"), MountPath: "/data", AccessMode: corev1.ReadOnlyMany}
			}),
			wantMessage: `spec.workload.storage.accessMode: Unsupported value: "ReadOnlyMany"`,
		},
		{
			name: "ingress annotation of kooper's own",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Ingress = &saasv1alpha1.IngressTemplate{Annotations: map[string]string{"saas.kooper.io/revision": "x"}}
			}),
			wantMessage: "annotations under saas.kooper.io/ are kooper's own",
		},
		{
			name: "the ingress controller's certificate and a Secret to copy",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Ingress = &saasv1alpha1.IngressTemplate{TLSSecretName: "wildcard", TLSCertificate: saasv1alpha1.TLSCertificateIngressController}
			}),
			wantMessage: "tlsCertificate IngressController serves the ingress controller's own certificate: leave tlsSecretName out",
		},
		{
			name: "a Secret to copy and cert-manager's issuer",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Ingress = &saasv1alpha1.IngressTemplate{TLSSecretName: "wildcard",
					Annotations: map[string]string{"cert-manager.io/cluster-issuer": "letsencrypt"}}
			}),
			wantMessage: "tlsSecretName with cert-manager's annotations",
		},
		{
			name: "a Secret to copy and kubernetes.io/tls-acme",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Ingress = &saasv1alpha1.IngressTemplate{TLSSecretName: "wildcard",
					Annotations: map[string]string{"kubernetes.io/tls-acme": "true"}}
			}),
			wantMessage: "tlsSecretName with cert-manager's annotations",
		},
		{
			name: "a copied certificate without the Secret to copy",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Ingress = &saasv1alpha1.IngressTemplate{TLSCertificate: saasv1alpha1.TLSCertificateCopied}
			}),
			wantMessage: "tlsCertificate Copied needs tlsSecretName, the Secret to copy",
		},
		{
			name: "a certificate from nowhere",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Ingress = &saasv1alpha1.IngressTemplate{TLSCertificate: "LetsEncrypt"}
			}),
			wantMessage: `spec.workload.ingress.tlsCertificate: Unsupported value: "LetsEncrypt"`,
		},
		{
			name: "ingress annotation key that is not a qualified name",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Ingress = &saasv1alpha1.IngressTemplate{Annotations: map[string]string{"kubernetes.io/elb id": "x"}}
			}),
			wantMessage: "each annotation key must be a qualified name",
		},
		{
			name: "tenant Service of type LoadBalancer",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Ingress = &saasv1alpha1.IngressTemplate{ServiceType: corev1.ServiceTypeLoadBalancer}
			}),
			wantMessage: `spec.workload.ingress.serviceType: Unsupported value: "LoadBalancer"`,
		},
		{
			name: "a headless NodePort Service",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Ingress = &saasv1alpha1.IngressTemplate{ServiceType: corev1.ServiceTypeNodePort, ClusterIP: corev1.ClusterIPNone}
			}),
			wantMessage: "clusterIP None (a headless Service) needs serviceType ClusterIP",
		},
		{
			name: "a headless Service beside the SSO gateway",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Ingress = &saasv1alpha1.IngressTemplate{ClusterIP: corev1.ClusterIPNone}
				o.Spec.Workload.Directory = &saasv1alpha1.DirectoryMount{}
				o.Spec.Workload.SSO = &saasv1alpha1.WorkloadSSO{Gateway: &saasv1alpha1.SSOGateway{}}
			}),
			wantMessage: "ingress.clusterIP None (a headless Service) cannot go with sso.gateway",
		},
		{
			name: "a tenant Service's cluster IP given as an address",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Ingress = &saasv1alpha1.IngressTemplate{ClusterIP: "10.96.0.10"}
			}),
			wantMessage: `spec.workload.ingress.clusterIP: Unsupported value: "10.96.0.10"`,
		},
		{
			name: "load balancer range that is not one",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Ingress = &saasv1alpha1.IngressTemplate{AllowFrom: []saasv1alpha1.IPBlock{{CIDR: "the ELB"}}}
			}),
			wantMessage: "spec.workload.ingress.allowFrom[0].cidr in body should match",
		},
		{
			name: "load balancer range with a prefix too long",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Ingress = &saasv1alpha1.IngressTemplate{AllowFrom: []saasv1alpha1.IPBlock{{CIDR: "10.0.0.0/33"}}}
			}),
			// format: cidr, which every supported API server checks (CEL's
			// isCIDR is unknown to a new rule before Kubernetes 1.31).
			wantMessage: `spec.workload.ingress.allowFrom[0].cidr in body must be of type cidr: "10.0.0.0/33"`,
		},
		{
			name: "load balancer range with an octet over 255",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Ingress = &saasv1alpha1.IngressTemplate{AllowFrom: []saasv1alpha1.IPBlock{{CIDR: "10.0.0.256/32"}}}
			}),
			wantMessage: `spec.workload.ingress.allowFrom[0].cidr in body must be of type cidr: "10.0.0.256/32"`,
		},
		{
			name: "chart load balancer range that is not one",
			object: chartProduct(func(c *saasv1alpha1.ChartTemplate) {
				c.IngressAllowFrom = []saasv1alpha1.IPBlock{{CIDR: "the ELB"}}
			}),
			wantMessage: "spec.chart.ingressAllowFrom[0].cidr in body should match",
		},
		{
			name: "chart load balancer range with a prefix too long",
			object: chartProduct(func(c *saasv1alpha1.ChartTemplate) {
				c.IngressAllowFrom = []saasv1alpha1.IPBlock{{CIDR: "10.0.0.0/33"}}
			}),
			wantMessage: `spec.chart.ingressAllowFrom[0].cidr in body must be of type cidr: "10.0.0.0/33"`,
		},
		{
			name: "chart load balancer ranges over the limit",
			object: chartProduct(func(c *saasv1alpha1.ChartTemplate) {
				c.IngressAllowFrom = make([]saasv1alpha1.IPBlock, 9)
				for i := range c.IngressAllowFrom {
					c.IngressAllowFrom[i].CIDR = fmt.Sprintf("10.0.%d.0/24", i)
				}
			}),
			wantMessage: "spec.chart.ingressAllowFrom: Too many: 9: must have at most 8 items",
		},
		{
			name:        "egress range with a prefix too long",
			object:      withEgress(saasv1alpha1.EgressRule{To: []saasv1alpha1.EgressPeer{cidrPeer("fd00::/129")}}),
			wantMessage: `spec.workload.egress[0].to[0].ipBlock.cidr in body must be of type cidr: "fd00::/129"`,
		},
		{
			name: "namespace image-pull Secret that is not a name",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.NamespaceImagePullSecretName = "Default_Secret"
			}),
			wantMessage: "spec.workload.namespaceImagePullSecretName in body should match",
		},
		{
			// kooper's copy of imagePullSecretName: a second entry of the
			// same name in the pod's imagePullSecrets, a list map.
			name: "namespace image-pull Secret that is kooper's copy",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.ImagePullSecretName = "pull"
				o.Spec.Workload.NamespaceImagePullSecretName = "kooper-image-pull"
			}),
			wantMessage: "spec.workload.namespaceImagePullSecretName: Invalid value: \"kooper-image-pull\": kooper-image-pull is kooper's copy of imagePullSecretName",
		},
		{
			// The kubelet takes the last of two variables of one name: every
			// tenant would get the product's instance id.
			name: "env variable of kooper's own",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Workload.Env = []saasv1alpha1.EnvVar{{Name: "LOG_LEVEL", Value: "info"}, {Name: "KOOPER_INSTANCE_ID", Value: "i-1"}}
			}),
			wantMessage: "spec.workload.env[1].name: Invalid value: \"KOOPER_INSTANCE_ID\": kooper sets KOOPER_INSTANCE_ID, KOOPER_SKU_CODE",
		},
		{
			// Issue 31: packages pay for a meter.
			name: "packages without metering",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Packages = &saasv1alpha1.PackagesSpec{}
			}),
			wantMessage: "spec.packages: Invalid value: packages need metering",
		},
		{
			name: "packages naming a meter the product does not have",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: []saasv1alpha1.Meter{{Name: "duration", Source: saasv1alpha1.MeterTenantHours}}}
				o.Spec.Packages = &saasv1alpha1.PackagesSpec{Meter: "cpu"}
			}),
			wantMessage: "packages.meter must name one of metering.meters",
		},
		{
			name: "packages of a product with two meters naming none",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: []saasv1alpha1.Meter{{Name: "duration", Source: saasv1alpha1.MeterTenantHours}}}
				o.Spec.Metering.Meters = append(o.Spec.Metering.Meters, saasv1alpha1.Meter{Name: "cpu", Source: saasv1alpha1.MeterCPUCoreHours})
				o.Spec.Packages = &saasv1alpha1.PackagesSpec{}
			}),
			wantMessage: "it may be omitted when there is exactly one meter",
		},
		{
			name: "package plan without spec.packages",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: []saasv1alpha1.Meter{{Name: "duration", Source: saasv1alpha1.MeterTenantHours}}}
				o.Spec.Plans = append(o.Spec.Plans, saasv1alpha1.Plan{SKUCode: "pkg", Package: &saasv1alpha1.PackageTerms{Quota: "10"}})
			}),
			wantMessage: "spec.plans: Invalid value: a plan's package terms need spec.packages",
		},
		{
			name: "package plan with both quotas",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: []saasv1alpha1.Meter{{Name: "duration", Source: saasv1alpha1.MeterTenantHours}}}
				o.Spec.Packages = &saasv1alpha1.PackagesSpec{}
				o.Spec.Plans = append(o.Spec.Plans, saasv1alpha1.Plan{SKUCode: "pkg", Package: &saasv1alpha1.PackageTerms{Quota: "10", QuotaPerLinearValue: "1"}})
			}),
			wantMessage: "set exactly one of quota and quotaPerLinearValue",
		},
		{
			name: "package plan with neither quota",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: []saasv1alpha1.Meter{{Name: "duration", Source: saasv1alpha1.MeterTenantHours}}}
				o.Spec.Packages = &saasv1alpha1.PackagesSpec{}
				o.Spec.Plans = append(o.Spec.Plans, saasv1alpha1.Plan{SKUCode: "pkg", Package: &saasv1alpha1.PackageTerms{}})
			}),
			wantMessage: "set exactly one of quota and quotaPerLinearValue",
		},
		{
			name: "package quota with five decimals",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: []saasv1alpha1.Meter{{Name: "duration", Source: saasv1alpha1.MeterTenantHours}}}
				o.Spec.Packages = &saasv1alpha1.PackagesSpec{}
				o.Spec.Plans = append(o.Spec.Plans, saasv1alpha1.Plan{SKUCode: "pkg", Package: &saasv1alpha1.PackageTerms{Quota: "0.00001"}})
			}),
			wantMessage: "spec.plans[1].package.quota in body should match",
		},
		{
			// A trial bought a package that held nothing.
			name: "package quota of 0",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: []saasv1alpha1.Meter{{Name: "duration", Source: saasv1alpha1.MeterTenantHours}}}
				o.Spec.Packages = &saasv1alpha1.PackagesSpec{}
				o.Spec.Plans = append(o.Spec.Plans, saasv1alpha1.Plan{SKUCode: "pkg", Package: &saasv1alpha1.PackageTerms{Quota: "0.0000"}})
			}),
			wantMessage: "a package must hold more than 0",
		},
		{
			name: "package quota per linear value of 0",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: []saasv1alpha1.Meter{{Name: "duration", Source: saasv1alpha1.MeterTenantHours}}}
				o.Spec.Packages = &saasv1alpha1.PackagesSpec{}
				o.Spec.Plans = append(o.Spec.Plans, saasv1alpha1.Plan{SKUCode: "pkg", Package: &saasv1alpha1.PackageTerms{QuotaPerLinearValue: "0"}})
			}),
			wantMessage: "a package must hold more than 0",
		},
		{
			name: "packages that freeze on something else",
			object: with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
				o.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: []saasv1alpha1.Meter{{Name: "duration", Source: saasv1alpha1.MeterTenantHours}}}
				o.Spec.Packages = &saasv1alpha1.PackagesSpec{OnExhausted: "Release"}
			}),
			wantMessage: `spec.packages.onExhausted: Unsupported value: "Release"`,
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
			// An added eventId made a purchase an application: the tombstone
			// check of its instance skipped, its key's window no longer
			// shortened by the instance's orders.
			name: "adding an eventId to a purchase",
			object: with(validLicense(), func(o *saasv1alpha1.License) {
				o.Spec.EventID, o.Spec.OrderID, o.Spec.OrderLineID = "", "CS1", "CS1-000001"
			}),
			mutate:      licenseChange(func(o *saasv1alpha1.License) { o.Spec.EventID = "invented" }),
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
	g.Expect(got.Spec.Lifecycle.Expiry.GraceSeconds).To(Equal(ptr.To[int32](259200)))
	g.Expect(got.Spec.Lifecycle.Expiry.NoticeSeconds).To(Equal([]int32{604800, 86400}))
	g.Expect((&saasv1alpha1.ExpiryPolicy{}).GetNoticeSeconds()).To(Equal(got.Spec.Lifecycle.Expiry.NoticeSeconds))
	g.Expect(&got.Spec.Lifecycle).To(Equal(saasv1alpha1.DefaultLifecyclePolicy()), "the Go-side defaults are the schema's")
	g.Expect((&saasv1alpha1.ReleasePolicy{}).GetRetentionDays()).To(Equal(*got.Spec.Lifecycle.Release.RetentionDays))
	g.Expect(got.Spec.Debug).To(BeNil(), "no debug policy is added: its ttlSeconds default would delete debug tenants a product never asked to")

	withDebug := validProduct()
	withDebug.Name = "with-debug-defaults"
	withDebug.Spec.Debug = &saasv1alpha1.DebugPolicy{}
	g.Expect(k8sClient.Create(ctx(t), withDebug)).To(Succeed())
	g.Expect(withDebug.Spec.Debug.TTLSeconds).To(Equal(ptr.To[int32](86400)), "debug: {} takes the documented one-day TTL")
	g.Expect(withDebug.Spec.Debug.Handling).To(Equal(saasv1alpha1.DebugProvision))

	tenant := validTenant()
	g.Expect(k8sClient.Create(ctx(t), tenant)).To(Succeed())
	g.Expect(tenant.Spec.State).To(Equal(saasv1alpha1.StateActive))
	g.Expect(tenant.Spec.Mode).To(Equal(saasv1alpha1.ModeProduction))

	licProduct := validLicenseProduct()
	g.Expect(k8sClient.Create(ctx(t), licProduct)).To(Succeed())
	g.Expect(licProduct.Spec.Plans[0].License.ValidityDays).To(Equal(int32(365)))
	g.Expect(licProduct.Spec.Plans[0].License.DeviceBinding).To(Equal(saasv1alpha1.DeviceBindingOptional))
}

// configFiles returns n inline files of size characters each.
func configFiles(n, size int) []saasv1alpha1.ConfigFile {
	files := make([]saasv1alpha1.ConfigFile, n)
	for i := range files {
		files[i] = saasv1alpha1.ConfigFile{Name: fmt.Sprintf("file-%02d.conf", i), Content: strings.Repeat("x", size)}
	}
	return files
}

// TestSchemaAcceptsProbesAndConfigAtTheirLimits admits every bound of the
// probes and configuration files at its maximum (the rejections one over
// are rows of TestSchemaRejectsInvalidObjectsOnCreate), and fills the
// probes' defaults, which are Kubernetes' own.
func TestSchemaAcceptsProbesAndConfigAtTheirLimits(t *testing.T) {
	atMax := saasv1alpha1.WorkloadProbe{Path: "/" + strings.Repeat("p", 1023), Port: "http",
		InitialDelaySeconds: 3600, PeriodSeconds: 3600, TimeoutSeconds: 600, FailureThreshold: 1000}
	cases := []struct {
		name   string
		change func(*saasv1alpha1.WorkloadTemplate)
	}{
		{"every probe at its maxima", func(w *saasv1alpha1.WorkloadTemplate) {
			readiness := atMax
			readiness.SuccessThreshold = 10
			w.ReadinessProbe, w.LivenessProbe, w.StartupProbe = &readiness, &atMax, &atMax
		}},
		{"probes on a named port that is not the first", func(w *saasv1alpha1.WorkloadTemplate) {
			w.Ports = append(w.Ports, saasv1alpha1.WorkloadPort{Name: "admin", ContainerPort: 9090})
			w.ReadinessProbe = &saasv1alpha1.WorkloadProbe{Path: "/ready", Port: "admin"}
		}},
		{"16 inline files of 32768 characters with 253-character names", func(w *saasv1alpha1.WorkloadTemplate) {
			files := configFiles(16, 32768)
			files[0].Name = strings.Repeat("n", 253)
			w.Config = &saasv1alpha1.WorkloadConfig{MountPath: "/" + strings.Repeat("m", 255), Files: files}
		}},
		{"a ConfigMap of a 253-character name, mounted beside the data and the directory", func(w *saasv1alpha1.WorkloadTemplate) {
			w.Storage = &saasv1alpha1.StorageTemplate{Size: resource.MustParse("1Gi"), MountPath: "/etc/crm-data"}
			w.Directory = &saasv1alpha1.DirectoryMount{MountPath: "/etc/crm-sso"}
			w.Config = &saasv1alpha1.WorkloadConfig{MountPath: "/etc/crm", ConfigMapName: strings.Repeat("c", 253)}
		}},
		{"an SSO gateway with every field", func(w *saasv1alpha1.WorkloadTemplate) {
			w.Directory = &saasv1alpha1.DirectoryMount{}
			w.SSO = &saasv1alpha1.WorkloadSSO{Gateway: &saasv1alpha1.SSOGateway{AppID: strings.Repeat("a", 64), Port: 65535,
				Image: strings.Repeat("i", 512), Resources: &saasv1alpha1.ContainerResources{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m")}}}}
		}},
		{"config mounted inside the data volume", func(w *saasv1alpha1.WorkloadTemplate) {
			w.Storage = &saasv1alpha1.StorageTemplate{Size: resource.MustParse("1Gi"), MountPath: "/data"}
			w.Config = &saasv1alpha1.WorkloadConfig{MountPath: "/data/conf", ConfigMapName: "crm-config"}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			product := with(validProduct(), func(o *saasv1alpha1.SaaSProduct) { tc.change(o.Spec.Workload) })
			NewWithT(t).Expect(k8sClient.Create(ctx(t), product)).To(Succeed())
		})
	}

	t.Run("defaults", func(t *testing.T) {
		g := NewWithT(t)
		product := with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
			o.Spec.Workload.ReadinessProbe = &saasv1alpha1.WorkloadProbe{Path: "/ready", Port: "http"}
		})
		g.Expect(k8sClient.Create(ctx(t), product)).To(Succeed())
		g.Expect(*product.Spec.Workload.ReadinessProbe).To(Equal(saasv1alpha1.WorkloadProbe{
			Path: "/ready", Port: "http", PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3}))
	})
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

func TestSchemaAcceptsChartProductsAndKeepsTheirValues(t *testing.T) {
	g := NewWithT(t)
	for _, product := range []*saasv1alpha1.SaaSProduct{
		chartProduct(nil),
		chartProduct(func(c *saasv1alpha1.ChartTemplate) {
			c.OCI = nil
			c.SecretRef = &saasv1alpha1.ChartSecretRef{Name: "crm-chart"}
		}),
		chartProduct(func(c *saasv1alpha1.ChartTemplate) {
			c.OCI.Tag, c.OCI.Digest, c.OCI.PullSecretName = "", "sha256:"+strings.Repeat("0f", 32), "swr-pull"
			c.OCI.Repository = "registry.local:5000/charts/crm"
		}),
		chartProduct(func(c *saasv1alpha1.ChartTemplate) {
			c.IngressAllowFrom = []saasv1alpha1.IPBlock{{CIDR: "100.125.0.0/16"}, {CIDR: "192.168.0.0/24", Except: []string{"192.168.0.128/25"}}}
		}),
	} {
		g.Expect(k8sClient.Create(ctx(t), product)).To(Succeed())
		got := &saasv1alpha1.SaaSProduct{}
		g.Expect(k8sClient.Get(ctx(t), client.ObjectKeyFromObject(product), got)).To(Succeed())
		g.Expect(got.Spec.Chart.Values.Raw).To(MatchJSON(`{"web":{"replicas":2}}`), "values are kept as given")
		g.Expect(got.Spec.Plans[0].Values.Raw).To(MatchJSON(`{"worker":{"enabled":true}}`))
		if got.Spec.Chart.SecretRef != nil {
			g.Expect(got.Spec.Chart.SecretRef.Key).To(Equal("chart.tgz"))
		}
	}
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
		g.Expect((&saasv1alpha1.Meter{}).GetDecimals()).To(Equal(*m.Decimals), "the Go-side default is the schema's")
		g.Expect(m.Rounding).To(Equal(saasv1alpha1.RoundHalfUp))
	}
}

// Issue 31: a product with packages gets the safe defaults: link by
// customer and product, report exhaustion, hold back uncovered usage.
func TestSchemaAcceptsPackagesAndFillsTheirDefaults(t *testing.T) {
	g := NewWithT(t)
	product := with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
		o.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: []saasv1alpha1.Meter{{Name: "duration", Source: saasv1alpha1.MeterTenantHours}}}
		o.Spec.Packages = &saasv1alpha1.PackagesSpec{}
		o.Spec.Plans = append(o.Spec.Plans,
			saasv1alpha1.Plan{SKUCode: "pkg-100h", Package: &saasv1alpha1.PackageTerms{Quota: "100"}},
			saasv1alpha1.Plan{SKUCode: "pkg-hours", Package: &saasv1alpha1.PackageTerms{QuotaPerLinearValue: "0.5"}})
	})
	g.Expect(k8sClient.Create(ctx(t), product)).To(Succeed())
	g.Expect(*product.Spec.Packages).To(Equal(saasv1alpha1.PackagesSpec{LinkBy: saasv1alpha1.LinkByCustomerAndProduct,
		OnExhausted: saasv1alpha1.ExhaustedReport, Uncovered: saasv1alpha1.UncoveredDrop}))
}

func TestSchemaAcceptsRolloutPolicies(t *testing.T) {
	g := NewWithT(t)
	for _, policy := range []saasv1alpha1.RolloutPolicy{
		{},
		{MaxUnavailableTenants: ptr.To(intstr.FromInt32(1))},
		{MaxUnavailableTenants: ptr.To(intstr.FromString("1%"))},
		{MaxUnavailableTenants: ptr.To(intstr.FromString("100%")), ProgressDeadlineSeconds: ptr.To(int32(10))},
		{Canary: &saasv1alpha1.RolloutCanary{InstanceIDs: []string{"i-1"}, DebugTenants: saasv1alpha1.DebugTenantsFirst}, Resume: "2026-12-01T17:00:00Z"},
	} {
		product := with(validProduct(), func(o *saasv1alpha1.SaaSProduct) { o.Spec.Rollout = &policy })
		g.Expect(k8sClient.Create(ctx(t), product)).To(Succeed(), "%+v", policy)
	}
}

// TestSchemaAcceptsWhatRealClustersNeed admits issue 28's fields: more
// replicas on a shared volume, one replica on a disk, CCE's ELB
// annotations, a NodePort Service, load balancer ranges and CCE's
// default-secret; and fills the access mode and Service type defaults.
func TestSchemaAcceptsWhatRealClustersNeed(t *testing.T) {
	g := NewWithT(t)
	cce := with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
		o.Spec.Workload.Storage = &saasv1alpha1.StorageTemplate{Size: resource.MustParse("5Gi"), MountPath: "/data", StorageClassName: "csi-disk-topology"}
		o.Spec.Workload.NamespaceImagePullSecretName = "default-secret"
		o.Spec.Workload.Ingress = &saasv1alpha1.IngressTemplate{ClassName: "cce", ServiceType: corev1.ServiceTypeNodePort,
			Annotations: map[string]string{"kubernetes.io/elb.class": "performance", "kubernetes.io/elb.id": "0b4e9b3f", "kubernetes.io/elb.port": "443"},
			AllowFrom:   []saasv1alpha1.IPBlock{{CIDR: "100.125.0.0/16"}, {CIDR: "192.168.0.0/24"}}}
		o.Spec.Plans = append(o.Spec.Plans, saasv1alpha1.Plan{SKUCode: "pro", Replicas: 1})
	})
	g.Expect(k8sClient.Create(ctx(t), cce)).To(Succeed())
	g.Expect(cce.Spec.Workload.Storage.AccessMode).To(Equal(corev1.ReadWriteOnce))

	shared := with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
		o.Spec.Workload.Storage = &saasv1alpha1.StorageTemplate{Size: resource.MustParse("5Gi"), MountPath: "/data",
			StorageClassName: "csi-nas", AccessMode: corev1.ReadWriteMany}
		o.Spec.Workload.Ingress = &saasv1alpha1.IngressTemplate{}
		o.Spec.Plans = append(o.Spec.Plans, saasv1alpha1.Plan{SKUCode: "pro", Replicas: 3})
	})
	g.Expect(k8sClient.Create(ctx(t), shared)).To(Succeed())
	g.Expect(shared.Spec.Workload.Ingress.ServiceType).To(Equal(corev1.ServiceTypeClusterIP))

	headless := with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
		o.Spec.Workload.Ingress = &saasv1alpha1.IngressTemplate{ClassName: "nginx", ClusterIP: corev1.ClusterIPNone}
	})
	g.Expect(k8sClient.Create(ctx(t), headless)).To(Succeed(), "a headless Service behind ingress-nginx")
	g.Expect(headless.Spec.Workload.Ingress.ServiceType).To(Equal(corev1.ServiceTypeClusterIP))

	defaultCertificate := with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
		o.Spec.Workload.Ingress = &saasv1alpha1.IngressTemplate{ClassName: "nginx", TLSCertificate: saasv1alpha1.TLSCertificateIngressController}
	})
	g.Expect(k8sClient.Create(ctx(t), defaultCertificate)).To(Succeed(), "ingress-nginx's --default-ssl-certificate")

	copiedWithOtherAnnotations := with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
		o.Spec.Workload.Ingress = &saasv1alpha1.IngressTemplate{TLSSecretName: "wildcard",
			Annotations: map[string]string{"nginx.ingress.kubernetes.io/ssl-redirect": "true"}}
	})
	g.Expect(k8sClient.Create(ctx(t), copiedWithOtherAnnotations)).To(Succeed(), "only cert-manager's annotations conflict with a copied certificate")

	noStorage := with(validProduct(), func(o *saasv1alpha1.SaaSProduct) { o.Spec.Plans[0].Replicas = 5 })
	g.Expect(k8sClient.Create(ctx(t), noStorage)).To(Succeed(), "replicas without a volume are no concern")
}

// withIngressAnnotation is a valid product whose tenants' Ingresses carry
// the annotation key: value.
func withIngressAnnotation(key, value string) *saasv1alpha1.SaaSProduct {
	return with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
		o.Spec.Workload.Ingress = &saasv1alpha1.IngressTemplate{Annotations: map[string]string{key: value}}
	})
}

// ingressAdmits is the API server's own verdict on an Ingress annotated
// key: value, created as a dry run: what a product's annotations must match.
func ingressAdmits(t *testing.T, key, value string) error {
	t.Helper()
	ingress := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: uniqueName("annotated"), Annotations: map[string]string{key: value}},
		Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{
			Service: &networkingv1.IngressServiceBackend{Name: "app", Port: networkingv1.ServiceBackendPort{Number: 80}}}},
	}
	return k8sClient.Create(ctx(t), ingress, client.DryRunAll)
}

// TestAnIngressAnnotationKeyWithANameOver63IsRefused: the API server
// refuses an annotation key whose name, after the '/', is over 63
// characters, or whose prefix is over 253. The product admitted such a key
// (it bounded the whole key only), and then every tenant's Ingress was
// refused and every new tenant stalled (ObjectInvalid, never Ready).
func TestAnIngressAnnotationKeyWithANameOver63IsRefused(t *testing.T) {
	for _, tc := range []struct{ name, key string }{
		{"a name of 64 characters", "example.com/" + strings.Repeat("a", 64)},
		{"a name of 64 characters without a prefix", strings.Repeat("a", 64)},
		{"a prefix of 254 characters", dnsSubdomainOf(254) + "/elb.id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(apierrors.IsInvalid(ingressAdmits(t, tc.key, "x"))).To(BeTrue(), "the API server refuses it on an Ingress")
			err := k8sClient.Create(ctx(t), withIngressAnnotation(tc.key, "x"))
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
			g.Expect(err.Error()).To(And(ContainSubstring("prefix of at most 253 characters"), ContainSubstring("a name of at most 63")))
		})
	}
}

// TestAnIngressAnnotationKeyOf317CharactersIsAdmitted: a key of a
// 253-character DNS subdomain, '/' and a 63-character name is the longest
// the API server admits; the product refused it (at most 316). So does a
// prefix in capitals, which the API server lowercases before it checks an
// annotation key.
func TestAnIngressAnnotationKeyOf317CharactersIsAdmitted(t *testing.T) {
	for _, tc := range []struct{ name, key string }{
		{"317 characters", dnsSubdomainOf(253) + "/" + strings.Repeat("b", 63)},
		{"a name of 63 characters without a prefix", strings.Repeat("b", 63)},
		{"a prefix in capitals", "Example.COM/elb.id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(ingressAdmits(t, tc.key, "x")).To(Succeed(), "the API server admits it on an Ingress")
			g.Expect(k8sClient.Create(ctx(t), withIngressAnnotation(tc.key, "x"))).To(Succeed())
		})
	}
}

// TestIngressAnnotationsOverTheAPIServersTotalAreRefused: the API server
// refuses an object whose annotations' keys and values total over 256 KiB,
// counted in bytes. The product counts characters, as CEL can within its
// cost budget: at most 65536, which no characters make more than 256 KiB.
func TestIngressAnnotationsOverTheAPIServersTotalAreRefused(t *testing.T) {
	g := NewWithT(t)
	const characters, apiServerBytes = 65536, 256 * 1024
	key := "nginx.ingress.kubernetes.io/configuration-snippet"
	atTheLimit := strings.Repeat("a", characters-len(key))
	g.Expect(ingressAdmits(t, key, atTheLimit)).To(Succeed())
	g.Expect(k8sClient.Create(ctx(t), withIngressAnnotation(key, atTheLimit))).To(Succeed())

	// "😀" is 4 bytes: a value just over the API server's bytes.
	overInBytes := strings.Repeat("😀", (apiServerBytes-len(key))/4+1)
	g.Expect(apierrors.IsInvalid(ingressAdmits(t, key, overInBytes))).To(BeTrue(), "the API server refuses it on an Ingress")
	for _, over := range []string{overInBytes, atTheLimit + "a"} {
		err := k8sClient.Create(ctx(t), withIngressAnnotation(key, over))
		g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
		g.Expect(err.Error()).To(ContainSubstring("must total at most 65536 characters"))
	}
}

// dnsSubdomainOf is a DNS subdomain of n characters: labels of at most 63
// joined by dots.
func dnsSubdomainOf(n int) string {
	var labels []string
	for n > 0 {
		size := min(n, 63)
		if n-size == 1 { // a lone dot would be left: shorten this label
			size--
		}
		labels = append(labels, strings.Repeat("a", size))
		n -= size + 1
	}
	return strings.Join(labels, ".")
}

// TestARolloutWaveCountBeyondInt32IsRefused: maxUnavailableTenants is an
// IntOrString, whose number is an int32. The schema admitted any integer
// of at least 1, and the API server stores 3000000000 as it is: every
// client then failed to decode the product, kooper's informers included,
// so no product could be read and a new receiver never became ready.
func TestARolloutWaveCountBeyondInt32IsRefused(t *testing.T) {
	for _, tc := range []struct {
		count   int64
		refused bool
	}{{count: 2147483648, refused: true}, {count: 3000000000, refused: true}, {count: 2147483647}} {
		t.Run(strconv.FormatInt(tc.count, 10), func(t *testing.T) {
			g := NewWithT(t)
			object, err := runtime.DefaultUnstructuredConverter.ToUnstructured(validProduct())
			g.Expect(err).NotTo(HaveOccurred())
			product := &unstructured.Unstructured{Object: object}
			product.SetGroupVersionKind(saasv1alpha1.GroupVersion.WithKind("SaaSProduct"))
			g.Expect(unstructured.SetNestedField(product.Object, tc.count, "spec", "rollout", "maxUnavailableTenants")).To(Succeed())
			err = k8sClient.Create(ctx(t), product)
			if !tc.refused {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
			g.Expect(err.Error()).To(ContainSubstring("at most 2147483647"))
		})
	}
}
