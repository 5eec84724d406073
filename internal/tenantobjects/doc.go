// Package tenantobjects builds the objects of a SaaSTenant's namespace:
// the Namespace itself, its ResourceQuota, LimitRange, NetworkPolicy,
// data PersistentVolumeClaim, copied Secrets,
// configuration ConfigMap, Deployment, Service and Ingress, from the
// tenant, its SaaSProduct and plan, and the options the tenant reconciler
// holds (docs/lifecycle.md: what provisioning applies, freezing scales or
// unroutes, and release removes).
//
// Its rules: it only builds. It never talks to the API server, reads no
// clock and keeps no state, so the same inputs always give the same
// objects, byte for byte. What it needs from the cluster (the Secrets to
// copy, the configuration files' source, the cluster's address ranges) the
// caller reads and hands in. Where building can fail (a URL or
// configuration template that does not render, an egress allow list the
// API server would refuse) it returns the problem, with its condition
// reason where there is one, and the caller stalls the tenant. A change of
// what it builds for an unchanged tenant can change the pod template, and
// so restart every running tenant on upgrade: testdata/ pins the rendering.
// Status judges an object as read back (kstatus), for the tenant
// controller and the bench alike.
package tenantobjects
