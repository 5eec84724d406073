package controllers

import (
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/rollout"
)

// sharedHostTemplate gives every tenant the same host, app.example.com, and
// tells tenants apart by path: fine without an Ingress (the merchant
// routes), a host shared by every tenant with one.
const sharedHostTemplate = "https://app.example.com/{{.InstanceID}}"

// TestTheURLCheckIsPerRevision: the tenant controller's memo of a product's
// URL check is shared by every tenant, and a tenant the rollout holds on an
// older revision is checked against that revision's workload (selectRevision
// overlays it on the product, with the product's UID and generation). The
// check of one revision must not answer for another: before, the first
// tenant checked at a generation fixed the verdict for every revision, so
// a held tenant's "no Ingress, nothing to check" let the wave's tenants
// apply an Ingress with the host every tenant shares.
func TestTheURLCheckIsPerRevision(t *testing.T) {
	live := urlProduct(sharedHostTemplate, "", true)
	live.UID, live.Generation = "uid-shared-host", 2
	held := rollout.Revision{Workload: &saasv1alpha1.WorkloadTemplate{}}.Overlay(live)

	t.Run("the held revision checked first", func(t *testing.T) {
		g := NewWithT(t)
		var cache urlCheckCache
		g.Expect(cache.check(held, "r1")).To(BeNil(), "no Ingress: the merchant routes")
		p := cache.check(live, "r2")
		g.Expect(p).NotTo(BeNil(), "the live revision's Ingress would have the host every tenant shares")
		g.Expect(p.reason).To(Equal(saasv1alpha1.IngressHostNotUniqueReason))
	})
	t.Run("the live revision checked first", func(t *testing.T) {
		g := NewWithT(t)
		var cache urlCheckCache
		p := cache.check(live, "r2")
		g.Expect(p).NotTo(BeNil())
		g.Expect(p.reason).To(Equal(saasv1alpha1.IngressHostNotUniqueReason))
		g.Expect(cache.check(held, "r1")).To(BeNil(), "a held tenant does not stall for a problem of a revision it does not run")
	})
	t.Run("each from memory after", func(t *testing.T) {
		g := NewWithT(t)
		var cache urlCheckCache
		g.Expect(cache.check(held, "r1")).To(BeNil())
		g.Expect(cache.check(live, "r2")).NotTo(BeNil())
		for range 2 {
			g.Expect(cache.check(held, "r1")).To(BeNil())
			g.Expect(cache.check(live, "r2")).NotTo(BeNil())
		}
	})
}

// TestTheURLCheckMemoStaysBounded: a product whose revisions keep changing
// (a merchant editing the workload over and over, tenants held on each)
// does not grow the memo without end.
func TestTheURLCheckMemoStaysBounded(t *testing.T) {
	g := NewWithT(t)
	var cache urlCheckCache
	p := urlProduct("https://{{.InstanceID}}.crm.example.com", "", true)
	p.UID, p.Generation = "uid-many-revisions", 1
	for i := range 10 * maxURLChecksPerProduct {
		revision := rollout.Revision{Workload: &saasv1alpha1.WorkloadTemplate{Image: fmt.Sprintf("registry.example.com/crm:%d", i),
			Ingress: &saasv1alpha1.IngressTemplate{}}}
		g.Expect(cache.check(revision.Overlay(p), fmt.Sprintf("r%d", i))).To(BeNil())
	}
	g.Expect(cache.byProduct).To(HaveLen(1))
	g.Expect(len(cache.byProduct[p.UID].byRevision)).To(BeNumerically("<=", maxURLChecksPerProduct))
}

// A merchant adds an Ingress to a product whose frontEndUrl gives every
// tenant the same host (tenants told apart by path, which the merchant
// routed until then). The rollout carries the new revision to its first
// wave; the tenants it holds on the old revision are reconciled at the
// same generation, and are fine without an Ingress. The wave's tenant
// must not take their verdict: it stalls with IngressHostNotUnique, and no
// tenant gets an Ingress with the shared host (before, the wave's tenants
// applied one each, and the ingress controller sent every buyer to one of
// them). A tenant bought meanwhile gets the revision the rollout has
// reached, without an Ingress.
func TestAnIngressAddedWithASharedHostStallsTheWavesTenants(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.URLs = &saasv1alpha1.URLTemplates{FrontEndURL: sharedHostTemplate}
		p.Spec.Workload.Ingress = nil
		p.Spec.Rollout = &saasv1alpha1.RolloutPolicy{MaxUnavailableTenants: ptr.To(intstr.FromInt32(1))}
	})
	var tenants []*saasv1alpha1.SaaSTenant
	for range 3 {
		tenants = append(tenants, readyTenant(t, product, "basic"))
	}
	allRolledOut(t, product.Name, 3)
	first, _ := rolloutOf(g, t, product.Name)

	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Workload.Ingress = &saasv1alpha1.IngressTemplate{ClassName: "nginx"}
	})
	var update string
	g.Eventually(func(g Gomega) {
		s, _ := rolloutOf(g, t, product.Name)
		g.Expect(s.Wave).To(Equal(int32(1)))
		g.Expect(s.UpdateRevision).NotTo(Equal(first.CurrentRevision))
		update = s.UpdateRevision
	}).Should(Succeed())
	var wave1 string
	g.Eventually(func(g Gomega) {
		for _, tn := range tenants {
			got := &saasv1alpha1.SaaSTenant{}
			g.Expect(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(tn), got)).To(Succeed())
			if got.Annotations[saasv1alpha1.RevisionAnnotation] == update {
				wave1 = got.Name
			}
		}
		g.Expect(wave1).NotTo(BeEmpty(), "a tenant told the new revision")
	}).Should(Succeed())
	eventuallyTenant(t, wave1, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.IngressHostNotUniqueReason))

	late := newTenant(t, product, "basic", nil)
	got := eventuallyTenant(t, late.Name, provisioned)
	g.Expect(got.Status.Revision).To(Equal(first.CurrentRevision), "the revision the rollout has reached")

	g.Consistently(func(g Gomega) {
		g.Expect(ingressesWithHost(g, t, "app.example.com")).To(BeEmpty())
	}).WithTimeout(3 * time.Second).Should(Succeed())
}

// ingressesWithHost names the Ingresses, in any namespace, with a rule
// for host.
func ingressesWithHost(g Gomega, t *testing.T, host string) []string {
	var list networkingv1.IngressList
	g.Expect(k8sClient.List(testContext(t), &list)).To(Succeed())
	var names []string
	for _, ing := range list.Items {
		for _, rule := range ing.Spec.Rules {
			if strings.EqualFold(rule.Host, host) {
				names = append(names, ing.Namespace+"/"+ing.Name)
			}
		}
	}
	return names
}
