package main

import (
	"context"
	"fmt"
	"time"
)

const etcdKillName = "4. etcd killed with kill -9 and restarted on its data"

// apiServerRecovery bounds the wait for kube-apiserver to serve again by
// itself after etcd's restart, before the scenario restarts it as a
// kubelet restarts a static pod that fails its liveness probe.
const apiServerRecovery = time.Minute

// killEtcd is scenario 4: etcd killed with SIGKILL while tenants are
// provisioning (a fifth of the purchases acknowledged, reconciles running,
// tenants stored but not Ready), and started again on the same data
// directory and URL after the kubelet's back-off. kube-apiserver is left
// to reconnect by itself; kooper processes that exit (a controllers
// replica that lost its lease) are restarted by the harness's kubelet.
func killEtcd(ctx context.Context, h *harness) row {
	size := h.cfg.etcdKill
	r := row{name: etcdKillName, setup: fmt.Sprintf("%d purchases, a %.0f/s stream; etcd killed with a fifth acknowledged and tenants provisioning, started again %s later",
		size.tenants, size.rate, size.down)}
	t := h.startPurchases(ctx, "CHAOSETCD", size)
	var ready bool
	r.inFlight, ready = strikeWhen(ctx, 2*time.Minute, func() (inFlight, bool) {
		leader, _, err := h.leader(ctx)
		if err != nil || t.driver.acknowledgedCount() < size.tenants/5 {
			return inFlight{}, false
		}
		f := h.measureInFlight(ctx, t.driver, leader)
		return f, f.reconciles > 0 && f.provisioning > 0
	})
	if !ready {
		r.injectionErr = "the leader never had reconciles running and tenants provisioning with a fifth of the purchases acknowledged"
	}
	r.inFlight.callbacks = awaitCallbackInFlight(ctx, t.driver)
	faultStart := time.Now()
	if err := h.stack.Cluster.KillEtcd(); err != nil {
		r.injectionErr = "killing etcd: " + err.Error()
	}
	logf("Killed etcd with %s in flight; starting it again in %s", r.inFlight, size.down)
	pause(ctx, size.down)
	if err := h.stack.Cluster.RestartEtcd(); err != nil {
		r.injectionErr = "starting etcd again: " + err.Error()
	}
	etcdBack := time.Now()
	r.notes = append(r.notes, fmt.Sprintf("etcd was down %.1f s (killed, started again, answering /health)", etcdBack.Sub(faultStart).Seconds()))
	r.notes = append(r.notes, h.awaitAPIServerAfterEtcd(ctx, etcdBack))
	// kwok, the kubelets' stand-in, can miss a pod bound while etcd was
	// down and leave it Pending for good (a run left two tenants
	// unavailable, kooper reporting them correctly); a kubelet re-lists
	// its pods when its watch breaks. Restarting kwok does that.
	if err := h.stack.Cluster.RestartComponents("kwok"); err != nil {
		r.injectionErr = "restarting kwok: " + err.Error()
	}
	faultEnd := time.Now()
	r.finish(ctx, h, t.wait(), faultStart, faultEnd)
	return r
}

// awaitAPIServerAfterEtcd waits until kube-apiserver serves a quorum read
// (a Get, which goes to etcd) again, and says how it came back: by itself,
// or restarted after apiServerRecovery.
func (h *harness) awaitAPIServerAfterEtcd(ctx context.Context, etcdBack time.Time) string {
	serves := func() bool {
		_, err := h.leaseHolder(ctx)
		return err == nil
	}
	if waitUntil(ctx, apiServerRecovery, serves) {
		return fmt.Sprintf("kube-apiserver served reads again %.1f s after etcd's restart, by itself (not restarted)", time.Since(etcdBack).Seconds())
	}
	note := fmt.Sprintf("kube-apiserver did not serve reads within %s of etcd's restart; restarted it as a kubelet would restart a static pod failing its liveness probe", apiServerRecovery)
	if err := h.stack.Cluster.StopAPIServer(); err != nil {
		note += " (stopping it: " + err.Error() + ")"
	}
	if err := h.stack.Cluster.StartAPIServer(); err != nil {
		return note + "; starting it again failed: " + err.Error()
	}
	return note
}
