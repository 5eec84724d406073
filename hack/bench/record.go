package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/localstack"
)

// recordCeilingProduct names the product of the record ceiling's
// SaaSTenants: no product of that name exists, and the controllers are
// stopped while they exist, so nothing but the bench writes them.
const recordCeilingProduct = "bench-record-ceiling"

// recordTemplate is a provisioned tenant's SaaSTenant, spec and status,
// to be created again under another instance ID.
type recordTemplate struct {
	instanceID string
	tenant     string // JSON, without status
	status     string // JSON
}

// recordTemplateOf copies the SaaSTenant kooper made for orderID of product.
func (b *bench) recordTemplateOf(ctx context.Context, product, orderID string) (*recordTemplate, error) {
	list := &saasv1alpha1.SaaSTenantList{}
	if err := b.client.List(ctx, list, client.MatchingLabels{saasv1alpha1.ProductLabel: product}); err != nil {
		return nil, err
	}
	i := slices.IndexFunc(list.Items, func(t saasv1alpha1.SaaSTenant) bool { return t.Spec.OrderID == orderID })
	if i < 0 {
		return nil, fmt.Errorf("no tenant for order %s", orderID)
	}
	t := list.Items[i]
	status, err := json.Marshal(t.Status)
	if err != nil {
		return nil, err
	}
	copied := &saasv1alpha1.SaaSTenant{Spec: t.Spec}
	copied.Name = t.Name
	copied.Labels = map[string]string{saasv1alpha1.ProductLabel: recordCeilingProduct}
	copied.Spec.ProductName = recordCeilingProduct
	tenant, err := json.Marshal(copied)
	if err != nil {
		return nil, err
	}
	return &recordTemplate{instanceID: t.Name, tenant: string(tenant), status: string(status)}, nil
}

// create makes what kooper's record costs for instance id: the SaaSTenant's
// create (as the receiver does) and, once objects made the tenant's
// objects, one status write (a merge patch at the version created, as
// kooper writes status).
func (r *recordTemplate) create(ctx context.Context, c client.Client, id string, objects func() error) error {
	t := &saasv1alpha1.SaaSTenant{}
	if err := json.Unmarshal([]byte(strings.ReplaceAll(r.tenant, r.instanceID, id)), t); err != nil {
		return err
	}
	if err := c.Create(ctx, t); err != nil {
		return fmt.Errorf("create SaaSTenant %s: %w", id, err)
	}
	if err := objects(); err != nil {
		return err
	}
	patch := client.MergeFromWithOptions(t.DeepCopy(), client.MergeFromWithOptimisticLock{})
	if err := json.Unmarshal([]byte(strings.ReplaceAll(r.status, r.instanceID, id)), &t.Status); err != nil {
		return err
	}
	if err := c.Status().Patch(ctx, t, patch); err != nil {
		return fmt.Errorf("write the status of SaaSTenant %s: %w", id, err)
	}
	return nil
}

// recordCeiling runs the baseline issue 26 compares kooper with: the
// direct creates of the same objects plus, per tenant, the SaaSTenant's
// create and one status write, with kooper's controllers stopped
// (withControllersStopped).
func (b *bench) recordCeiling(ctx context.Context, offset int, tmpl *tenantTemplate, deployments *readyWatcher) (provisionRun, error) {
	c := b.cfg
	rec, err := b.recordTemplateOf(ctx, benchProduct, fmt.Sprintf("BENCHP%06d", 0))
	if err != nil {
		return provisionRun{}, fmt.Errorf("failed to copy a provisioned tenant's record: %w", err)
	}
	logf("Stopping kooper's controllers; creating the same objects and a SaaSTenant record with one status write for %d tenants directly, %d at a time", c.tenants, c.concurrency)
	return b.withControllersStopped(ctx, func() provisionRun {
		apiProfiled := b.profileFirstRound(ctx, offset == 0, "apiserver-record-cpu.pprof", c.tenants)
		var created sync.Map
		run := b.runWorkers(ctx, "direct creates + record (create, one status write)", c.tenants, c.concurrency,
			func(ctx context.Context, i int) (string, time.Time, error) {
				at := time.Now()
				id := fmt.Sprintf("r-%020d", offset+i)
				var ns string
				err := rec.create(ctx, b.client, id, func() (err error) {
					ns, err = tmpl.create(ctx, b.client, id)
					return err
				})
				if err == nil {
					created.Store(ns, time.Now())
				}
				return ns, at, err
			}, deployments.when, syncMapLookup(&created), func(keys []string) bool { return deployments.waitAll(ctx, keys, provisionTimeout) })
		logf("record ceiling: %.1f tenants/s, p50 %s, p99 %s, %d errors", run.Rate, run.P50, run.P99, run.Errors)
		// The profile window ends before the deletes and the controllers'
		// restart, which are no part of the way.
		run.APIServerRequests, run.APIServerCPU = apiProfiled()
		return run
	})
}

// withControllersStopped runs a record ceiling's way with kooper's
// controllers stopped, so that nothing but the bench writes its
// SaaSTenants; they are deleted and the controllers started again before
// it returns, whatever failed: the phases after it need them running.
func (b *bench) withControllersStopped(ctx context.Context, way func() provisionRun) (run provisionRun, err error) {
	defer func() {
		// A cancelled run still leaves them running, within a bound.
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if delErr := b.client.DeleteAllOf(cleanup, &saasv1alpha1.SaaSTenant{},
			client.MatchingLabels{saasv1alpha1.ProductLabel: recordCeilingProduct}); delErr != nil {
			err = errors.Join(err, fmt.Errorf("failed to delete the record ceiling's SaaSTenants: %w", delErr))
		}
		if _, startErr := b.stack.RestartKilled(cleanup); startErr != nil {
			err = errors.Join(err, fmt.Errorf("failed to start the controllers again: %w", startErr))
		}
	}()
	if err := b.stack.KillReplica(localstack.Controllers, 0); err != nil {
		return provisionRun{}, err
	}
	return way(), nil
}
