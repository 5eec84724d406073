// Package metering is the arithmetic of pay-per-use metering (spec §6.4):
// which tenants are metered, what the built-in meters observe of a tenant,
// the hour windows a tenant's usage is cut into, each window's usage and its
// rounding, the usage records and their metering_sn, how many windows fit in
// one push, which refused records are retried, and the windows the
// marketplace's 21 days no longer accept.
//
// Its rules: every function is pure. It reads and changes only the values it
// is given (a tenant's status.metering at most), takes the time as an
// argument and never reads a clock, and never calls the API server, the
// marketplace or Prometheus: the metering controller (controllers/) does all
// of that, and calls this package for every decision. It imports the API
// types and internal/koogallery, nothing that talks to a server.
package metering
