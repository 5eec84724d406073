package controllers

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/metering"
	"github.com/kooper-io/kooper/internal/productkeys"
	"github.com/kooper-io/kooper/internal/promquery"
	"github.com/kooper-io/kooper/internal/tenantobjects"
	"github.com/kooper-io/kooper/internal/textcut"
)

// usagePush is one reconcile's push of a tenant's closed windows.
type usagePush struct {
	tenant    *saasv1alpha1.SaaSTenant
	meters    []saasv1alpha1.Meter
	promURL   string
	namespace string
	pusher    UsagePusher
	// product is the tenant's product, whose keys sign the push.
	product *saasv1alpha1.SaaSProduct
	// keys are the product's basic keys, in the order a push tries them
	// (signingKeyMemory.inOrder); never empty.
	keys []productkeys.Key
	// keysSecret names the keys Secret, and keysFingerprint tells its
	// keys from others (refusedKeysMemory).
	keysSecret      types.NamespacedName
	keysFingerprint keysFingerprint
	// limit is the most records one push carries (MeteringOptions.usagePushLimit).
	limit int
	// split splits the packages' meter over the packages that fund the
	// tenant; nil when none do.
	split *packageSplit
	// refused are the records the marketplace refused for good this reconcile.
	refused []koogallery.UsageRecordError
	// retryErr is set when a refusal may pass (metering.Retryable): the cursor
	// stops before that window and the controller retries with backoff.
	retryErr error
	// budget is how long this reconcile may measure (MeasureBudget);
	// measured is how long its meters took so far.
	budget, measured time.Duration
}

// budgetSpent reports whether this reconcile measured for its budget: it
// starts no more windows, and leaves them to the next reconcile.
func (p *usagePush) budgetSpent() bool { return p.measured >= p.budget }

// pendingRecord is a record with what kooper needs once it is answered.
type pendingRecord struct {
	record koogallery.UsageRecord
	meter  string
	units  koogallery.UsageUnits
	window int
	// part is the package that pays for the record, for the packages' meter.
	part metering.PackagePart
	// uncovered is set on usage of the packages' meter that no package
	// covers: Push sends it without a package, Drop counts it and does not
	// send it (spec.packages.uncovered).
	uncovered saasv1alpha1.UncoveredUsage
	// crowded is set on a record its window has no whole second left for
	// (tilePeriods): it is not sent, counted or deducted.
	crowded bool
}

// newPendingRecord is the record of units of meter over window w (index i
// of its push), paid for by package pkg when pkg is not empty. The record's
// metering_sn follows from these alone, and its period from them and the
// records before it in its window (tilePeriods), so a push rebuilt from
// status.metering.inFlight sends the very records it was built with.
func newPendingRecord(t *saasv1alpha1.SaaSTenant, meter string, w metering.Window, i int, units koogallery.UsageUnits, pkg string, uncovered saasv1alpha1.UncoveredUsage) pendingRecord {
	rec := pendingRecord{meter: meter, units: units, window: i, uncovered: uncovered}
	if pkg == "" {
		rec.record = metering.Record(t, meter, w, units)
		return rec
	}
	rec.part = metering.PackagePart{Package: pkg, Units: units}
	rec.record = metering.PackageRecord(t, meter, w, rec.part)
	return rec
}

// held reports whether the record is usage no package covers that is
// counted, not sent (spec.packages.uncovered Drop).
func (rec pendingRecord) held() bool { return rec.uncovered == saasv1alpha1.UncoveredDrop }

// tilePeriods gives each record to be sent its own period of its window
// (metering.Periods; spec §6.4: records per instance and period without
// overlaps), in the order the records were built: the meters in the
// product's order, and a meter's package parts in paying order, then its
// uncovered rest. That order is the order status.metering.inFlight stores
// them in, so a rebuilt push gets the same periods (inFlightRecords). A
// record a window too short has no second left for is marked crowded, and
// not sent. Held records take no period: they are not sent. It returns
// pending, changed in place.
func tilePeriods(windows []metering.Window, pending []pendingRecord) []pendingRecord {
	byWindow := make([][]int, len(windows))
	for i, rec := range pending {
		if !rec.held() && rec.window >= 0 && rec.window < len(windows) {
			byWindow[rec.window] = append(byWindow[rec.window], i)
		}
	}
	for w, records := range byWindow {
		periods := metering.Periods(windows[w], len(records))
		for j, i := range records {
			if j >= len(periods) {
				pending[i].crowded = true
				continue
			}
			pending[i].record = metering.InPeriod(pending[i].record, periods[j])
		}
	}
	return pending
}

// inFlightRecords rebuilds the in-flight push (pendingOf) with the periods
// its records were first sent with (tilePeriods).
func inFlightRecords(t *saasv1alpha1.SaaSTenant, push *saasv1alpha1.InFlightPush) ([]metering.Window, []pendingRecord, error) {
	windows, pending, err := pendingOf(t, push)
	if err != nil {
		return nil, nil, err
	}
	return windows, tilePeriods(windows, pending), nil
}

// pushKeys are the keys a product's usage pushes are signed with, as its
// keys Secret holds them.
type pushKeys struct {
	secret                       types.NamespacedName
	accessKeyID, secretAccessKey string
	// basic are the basic keys, in productkeys.Named's order; never empty.
	basic []productkeys.Key
	// fingerprint tells these keys from others (refusedKeysMemory).
	fingerprint keysFingerprint
}

// readPushKeys reads the product's keys Secret (through the cache).
func (r *MeteringReconciler) readPushKeys(ctx context.Context, product *saasv1alpha1.SaaSProduct) (*pushKeys, error) {
	secret := &corev1.Secret{}
	key := types.NamespacedName{Namespace: r.Options.SecretNamespace, Name: product.Spec.KeysSecretName}
	if err := r.Get(ctx, key, secret); err != nil {
		return nil, fmt.Errorf("failed to read the keys Secret %s: %w", key, err)
	}
	k := &pushKeys{
		secret:          key,
		accessKeyID:     koogallery.KeyText(secret.Data[saasv1alpha1.AccessKeyIDSecretKey]),
		secretAccessKey: koogallery.KeyText(secret.Data[saasv1alpha1.SecretAccessKeySecretKey]),
		basic:           productkeys.Named(secret, saasv1alpha1.BasicKeySecretKey),
	}
	if len(k.basic) == 0 {
		return nil, errNoKey
	}
	k.fingerprint = fingerprintOf(k)
	return k, nil
}

// keysFingerprint is a SHA-256 digest of the keys a usage push is signed
// with. It tells a keys Secret whose keys changed from one whose keys did
// not (a label, a finalizer, a licence key), and lives in memory only.
type keysFingerprint [sha256.Size]byte

// fingerprintOf digests the AK/SK and each basic key's name and value,
// each prefixed with its length, so that no two sets digest the same text.
func fingerprintOf(k *pushKeys) keysFingerprint {
	h := sha256.New()
	write := func(s string) {
		_, _ = fmt.Fprintf(h, "%d:%s", len(s), s)
	}
	write(k.accessKeyID)
	write(k.secretAccessKey)
	for _, key := range k.basic {
		write(key.Name)
		write(key.Value)
	}
	var out keysFingerprint
	h.Sum(out[:0])
	return out
}

// newPush reads the product's keys and prepares the push.
func (r *MeteringReconciler) newPush(ctx context.Context, t *saasv1alpha1.SaaSTenant, product *saasv1alpha1.SaaSProduct) (*usagePush, error) {
	keys, err := r.readPushKeys(ctx, product)
	if err != nil {
		return nil, err
	}
	p := &usagePush{
		tenant: t, meters: product.Spec.Metering.Meters, promURL: product.Spec.Metering.PrometheusURL,
		namespace: t.Status.Namespace, pusher: r.Usage(keys.accessKeyID, keys.secretAccessKey),
		product: product, keys: r.signingKeys.inOrder(product.Name, keys.basic),
		keysSecret: keys.secret, keysFingerprint: keys.fingerprint,
	}
	p.limit = r.Options.usagePushLimit()
	p.budget = r.Options.measureBudget()
	if p.promURL == "" {
		p.promURL = r.Options.PrometheusURL
	}
	p.split = newPackageSplit(t, product)
	if p.namespace == "" {
		p.namespace = tenantobjects.NamespaceName(product, t.Spec.InstanceID)
	}
	return p, nil
}

// pushBatch builds the records of windows, records them as the in-flight
// push, then sends them (sendBatch). The push is written before it is sent:
// once sent it cannot be taken back, and a retry after a lost answer, a
// restart or a write conflict must send the same records, not measure or
// split the windows anew (a Prometheus meter answers differently later; a
// renewal changes which package pays first).
func (r *MeteringReconciler) pushBatch(ctx context.Context, p *usagePush, windows []metering.Window) error {
	p.split.startFrom(p.tenant)
	windows, pending, err := r.buildRecords(ctx, p, windows)
	if err != nil {
		return r.recordFailure(ctx, p.tenant, saasv1alpha1.MeterSourceFailedReason, err)
	}
	windows, pending = withinOnePush(windows, pending, p.limit)
	if slices.ContainsFunc(pending, sendable) {
		inFlight := inFlightOf(windows, pending)
		if err := r.patchMetering(ctx, p.tenant, func(m *saasv1alpha1.TenantMetering) { m.InFlight = inFlight }); err != nil {
			return err
		}
	}
	return r.sendBatch(ctx, p, windows, pending, len(windows))
}

// resendInFlight sends the in-flight push again, exactly as it was built:
// the marketplace answers the records it holds as duplicates. A push built
// under a larger limit (by an older kooper, or before the limit was
// lowered) goes in as many pushes as the limit asks, a run of whole
// windows each; what is not sent yet stays in flight, as it was built.
func (r *MeteringReconciler) resendInFlight(ctx context.Context, p *usagePush) error {
	for p.tenant.Status.Metering.InFlight != nil {
		windows, pending, err := inFlightRecords(p.tenant, p.tenant.Status.Metering.InFlight)
		if err != nil {
			return r.recordFailure(ctx, p.tenant, saasv1alpha1.UsagePushFailedReason, err)
		}
		fit, _ := withinOnePush(windows, pending, p.limit)
		if err := r.sendBatch(ctx, p, windows, pending, len(fit)); err != nil {
			return err
		}
		if len(fit) == len(windows) {
			return nil
		}
	}
	return nil
}

// sendBatch pushes the sendable records of the first upTo windows and
// moves the cursor past every window the marketplace accepted; the records
// of the windows after them stay in flight.
func (r *MeteringReconciler) sendBatch(ctx context.Context, p *usagePush, windows []metering.Window, pending []pendingRecord, upTo int) error {
	sent := pending
	if cut := slices.IndexFunc(pending, func(rec pendingRecord) bool { return rec.window >= upTo }); cut >= 0 {
		sent = pending[:cut]
	}
	done := upTo
	var err error
	if slices.ContainsFunc(sent, sendable) {
		if done, err = r.send(ctx, p, sent, upTo); err != nil {
			return r.recordFailure(ctx, p.tenant, saasv1alpha1.UsagePushFailedReason, err)
		}
	}
	if done > 0 {
		was := exhaustion(p.tenant)
		if err := r.advance(ctx, p, windows, pending, done); err != nil {
			return err
		}
		r.announceCrowded(p.tenant, windows, pending, done)
		countUncovered(pending, done)
		r.announceExhaustion(p.tenant, was)
	}
	if done < upTo {
		// A refusal that may pass: Metered=False, an Event, and a retry with backoff.
		return r.recordFailure(ctx, p.tenant, saasv1alpha1.UsageRejectedReason, p.retryErr)
	}
	return nil
}

// withinOnePush keeps the leading windows whose sendable records fit in one
// usage push of at most limit records, and their records (spec §6.4,
// MKT.9003; the limit is usagePushLimit); the rest go in the next push.
// metering.WindowsPerPush sizes a batch at one record per meter and window,
// but the packages' meter makes one record per package that pays for a
// window, and one more for the uncovered rest under uncovered: Push: a
// window where one package runs out and the next takes over makes two. A
// batch one record over was refused by the client before it was sent, on
// every retry, until the 21-day cut dropped its hours. At least one window
// is kept: one window's records are at most its meters plus its packages.
func withinOnePush(windows []metering.Window, pending []pendingRecord, limit int) ([]metering.Window, []pendingRecord) {
	sent := 0
	for _, rec := range pending {
		if sendable(rec) {
			sent++
		}
		if sent > limit {
			keep := max(rec.window, 1)
			cut := slices.IndexFunc(pending, func(r pendingRecord) bool { return r.window >= keep })
			if cut < 0 {
				cut = len(pending)
			}
			return windows[:keep], pending[:cut]
		}
	}
	return windows, pending
}

// buildRecords measures every meter over the leading windows, and returns
// those windows and their records, each with its period (tilePeriods);
// values that round to zero make no record. It measures the first window
// whole, then starts no window once the push's measuring budget is spent
// (budgetSpent): like withinOnePush, it keeps a run of whole leading
// windows, and the later ones are measured and split by a later batch,
// from the ledger this one settles.
func (r *MeteringReconciler) buildRecords(ctx context.Context, p *usagePush, windows []metering.Window) ([]metering.Window, []pendingRecord, error) {
	var out []pendingRecord
	for i, w := range windows {
		if i > 0 && p.budgetSpent() {
			return windows[:i], out, nil
		}
		records, err := r.measureWindow(ctx, p, w, i)
		if err != nil {
			return nil, nil, err
		}
		records = tilePeriods(windows, records)
		p.split.refund(records) // the next window splits from what was sent
		out = append(out, records...)
	}
	return windows, out, nil
}

// measureWindow measures every meter over window w (index i of its batch)
// and adds the time it took to the push's measuring.
func (r *MeteringReconciler) measureWindow(ctx context.Context, p *usagePush, w metering.Window, i int) ([]pendingRecord, error) {
	start := time.Now()
	defer func() { p.measured += time.Since(start) }()
	var out []pendingRecord
	for _, meter := range p.meters {
		v, err := r.measure(ctx, p, meter, w)
		units := metering.Round(v, meter.GetDecimals(), meter.Rounding)
		if err == nil && meter.Source == saasv1alpha1.MeterPrometheus {
			err = unbillable(v, units, meter.GetDecimals())
		}
		if err != nil {
			return nil, fmt.Errorf("meter %s, window %s: %w", meter.Name, w.Start.UTC().Format(time.RFC3339), err)
		}
		if units <= 0 {
			continue
		}
		out = append(out, p.split.records(p.tenant, meter.Name, w, i, units)...)
	}
	return out, nil
}

// unbillable says why v, a Prometheus meter's answer for a window that
// Round made units of at decimals, is no usage kooper can bill, or returns
// nil. NaN and the infinities come from a query that divides by zero (with
// sum(b) = 0, sum(a) / sum(b) is NaN or ±Inf); a value one record cannot
// carry, from a query in too small a unit. Round makes both 0, which would
// push the hour as no usage and lose its revenue without a word: as a
// failed query, they fail the measurement, and the hour is measured again
// once the query is fixed. A value ≤ 0 is no usage (spec §6.4: usage_value
// > 0): usage is never credited back, and a query may well answer a little
// below 0 (float error, a gauge's delta) for an hour with none.
func unbillable(v float64, units koogallery.UsageUnits, decimals int32) error {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Errorf("the query answered %v, which is no usage: guard its divisions, "+
			"for example sum(a) / (sum(b) > 0) or vector(0)", v)
	case units == 0 && v >= 1:
		// Round makes 0 of a value of at least 1 only when one record
		// cannot carry it, at any decimals and rounding.
		return fmt.Errorf("the query answered %g, more than one usage record carries at %d decimals "+
			"(%s at most, less at more decimals): measure in a larger unit or with fewer decimals",
			v, min(max(decimals, 0), 4), koogallery.MaxUsageUnits)
	}
	return nil
}

// measure is one meter's usage over one window.
func (r *MeteringReconciler) measure(ctx context.Context, p *usagePush, meter saasv1alpha1.Meter, w metering.Window) (float64, error) {
	if meter.Source != saasv1alpha1.MeterPrometheus {
		return metering.BuiltinUsage(meter.Source, p.tenant.Status.Metering.Segments, w), nil
	}
	if p.promURL == "" || r.Prometheus == nil {
		return 0, fmt.Errorf("no Prometheus URL: set spec.metering.prometheusUrl or --prometheus-url")
	}
	query, err := promquery.Render(meter.Query, promquery.Data{
		Namespace: p.namespace, InstanceID: p.tenant.Spec.InstanceID, Window: promquery.Duration(w.End.Sub(w.Start)),
	})
	if err != nil {
		return 0, err
	}
	return r.Prometheus.Query(ctx, p.promURL, query, w.End)
}

// send pushes the records of windows windows and returns how many leading
// windows are done: all, or those before the first window with a refusal
// that may pass. Duplicates count as accepted: the marketplace already
// holds the record. That holds for 010 (duplicate record) as well as for
// 005 (duplicate metering_sn): spec §6.4 asks for records "per instance and
// period without overlaps", and kooper's records of an instance never
// share a period (tilePeriods; the windows follow each other, and a
// window behind the cursor is never pushed again), so a record the
// marketplace holds for the period of one of them can only be that very
// record, pushed before under the same metering_sn. A failed record is
// matched with the record sent by answeredSN; one that matches none fails
// the push as a whole (unmatchedFailure).
func (r *MeteringReconciler) send(ctx context.Context, p *usagePush, pending []pendingRecord, windows int) (int, error) {
	var records []koogallery.UsageRecord
	for i := range pending {
		if sendable(pending[i]) {
			records = append(records, pending[i].record)
		}
	}
	start := time.Now()
	failed, err := r.pushSigned(ctx, p, records)
	usagePushSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		countPushFailed(ctx, pending)
		return 0, err
	}
	bySN := make(map[string]*pendingRecord, len(pending))
	for i := range pending {
		if sendable(pending[i]) {
			bySN[answeredSN(pending[i].record.MeteringSN)] = &pending[i]
		}
	}
	if err := unmatchedFailure(failed, bySN); err != nil {
		countPushFailed(ctx, pending)
		return 0, err
	}
	done := windows
	for _, f := range failed {
		if f.Duplicate() {
			continue
		}
		rec := bySN[answeredSN(f.MeteringSN)] // unmatchedFailure found each
		f.MeteringSN = rec.record.MeteringSN  // as sent, not as the answer spells it
		rec.units = 0                         // not accepted: it adds nothing to the totals
		usageFailed.WithLabelValues(rec.meter, codeLabel(f.ResultCode)).Inc()
		if metering.Retryable(f.ResultCode) {
			done = min(done, rec.window)
			p.retryErr = fmt.Errorf("the marketplace refused metering_sn %s with %s (%s); retrying", f.MeteringSN, f.ResultCode, textcut.Bytes(f.ResultMsg, 128))
			continue
		}
		p.refused = append(p.refused, f)
	}
	countAccepted(pending, failed)
	return done, nil
}

// countPushFailed counts the records of a push that failed as a whole.
func countPushFailed(ctx context.Context, pending []pendingRecord) {
	if ctx.Err() != nil {
		return // a push cut by a stop is no failure
	}
	for _, rec := range pending {
		if sendable(rec) {
			usageFailed.WithLabelValues(rec.meter, "push").Inc()
		}
	}
}

// answeredSN is the form in which a failed record of the answer is matched
// with the record sent: spaces trimmed, lower case. The answer's shape is
// not captured (spec §8 item 19), and a refused record the answer spells
// otherwise than kooper sent it must not pass for accepted. kooper's
// metering_sn is "kp" and lower-case hex (metering.SN, metering.PackageSN),
// so no two records of a push differ in case or spaces alone.
func answeredSN(sn string) string { return strings.ToLower(strings.TrimSpace(sn)) }

// unmatchedFailure returns an error when the answer names a failed record,
// not a duplicate, whose metering_sn matches no record of the push (bySN,
// by answeredSN): an empty or null one, or one in a shape kooper does not
// read (spec §8 item 19). Which record failed cannot be told, so none of
// the push is taken as accepted: send fails, the windows stay before the
// cursor, and the push is sent again. That is safe: a record the
// marketplace holds is answered as a duplicate (005), which send takes as
// accepted. A duplicate matching no record is no reason to push again: it
// says the marketplace holds a record, and re-sending would only get the
// same answer. The error gives the result code, never the answer's
// metering_sn or message.
func unmatchedFailure(failed []koogallery.UsageRecordError, bySN map[string]*pendingRecord) error {
	unmatched, code := 0, ""
	for _, f := range failed {
		if _, ok := bySN[answeredSN(f.MeteringSN)]; ok || f.Duplicate() {
			continue
		}
		if unmatched == 0 {
			code = f.ResultCode
		}
		unmatched++
	}
	if unmatched == 0 {
		return nil
	}
	return fmt.Errorf("the marketplace answered the usage push with %d failed record(s) whose metering_sn names no record kooper sent "+
		"(the first with result_code %q): kooper did not send them, cannot tell which of its records failed, "+
		"and takes none of the push as accepted; it is sent again", unmatched, textcut.Bytes(code, 16))
}

// signatureRefusedCode is the usage push's answer to a body signed with a
// key the marketplace does not hold for the product (spec §6.4, §6.7: HTTP
// 400, MKT.0102, invalid body signature). The request is refused as a
// whole: no record of it is stored.
const signatureRefusedCode = "MKT.0102"

// pushSigned pushes records signed with the product's first key (p.keys)
// and, while the marketplace refuses the signature (signatureRefusedCode),
// with each next key: between the Seller Console's switch to a new key,
// added as basicKey.<suffix>, and the old key's removal, the console signs
// with the new one (docs/concepts.md, Marketplace keys). Sending the same
// records again is safe: a refused request stored none of them, and their
// metering_sn is the same whichever key signs. The key accepted goes first
// from then on (signingKeyMemory). A push refused for the product's keys
// (every basic key, or the AK/SK) is remembered for the whole product
// (keysRefused); any other failure ends the push with it. The error of a
// push refused for its keys names how many keys were tried, never a key.
func (r *MeteringReconciler) pushSigned(ctx context.Context, p *usagePush, records []koogallery.UsageRecord) ([]koogallery.UsageRecordError, error) {
	var refusal error
	for i, key := range p.keys {
		failed, err := p.pusher.PushUsage(ctx, key.Value, records)
		if signatureRefused(err) {
			if refusal == nil {
				refusal = err
			}
			continue
		}
		if credentialsRefused(err) {
			return nil, r.keysRefused(ctx, p, &keysRefusedError{secret: p.keysSecret, answer: err})
		}
		if err == nil {
			r.refusedKeys.forget(p.product.Name) // the keys are taken: the product's tenants push again
			if i > 0 {
				p.keys = r.signingKeys.accepted(ctx, p.product.Name, p.keys, i)
			}
		}
		return failed, err
	}
	return nil, r.keysRefused(ctx, p, &keysRefusedError{secret: p.keysSecret, basicKeys: len(p.keys), answer: refusal})
}

// signatureRefused reports whether err is the marketplace's refusal of a
// usage push's signature.
func signatureRefused(err error) bool {
	var apiErr *koogallery.APIError
	return errors.As(err, &apiErr) && apiErr.Code == signatureRefusedCode
}

// tokenRefusedCode is the open APIs' answer to a call whose AK/SK the
// marketplace does not take ("Illegal token").
const tokenRefusedCode = "MKT.0154"

// credentialsRefused reports whether err is the marketplace's refusal of a
// usage push's AK/SK: HTTP 401 (the gateway's APIG.0301, incorrect
// signature) or tokenRefusedCode. Like a refused basic key, it refuses the
// push as a whole, and every push of the product until its keys Secret
// holds the account's keys.
func credentialsRefused(err error) bool {
	var apiErr *koogallery.APIError
	return errors.As(err, &apiErr) && (apiErr.HTTPStatus == http.StatusUnauthorized || apiErr.Code == tokenRefusedCode)
}

// keysRefusedRetry is how long the tenants of a product whose usage push
// the marketplace refused for its keys wait before one of them tries
// again (refusedKeysMemory). Under 10 minutes, so that the one refused
// push per wait still fails within every 10 minutes KooperUsagePushFailing
// looks at.
const keysRefusedRetry = 5 * time.Minute

// keysWaitSpread is how long after a product's next try its waiting
// tenants come back, each at a fixed place (pushOffset): the first to come
// tries, and the others find it done.
const keysWaitSpread = time.Minute

// keysRefusedError is a usage push the marketplace refused as a whole for
// the product's keys: the signature of each of its basic keys (MKT.0102),
// or its AK/SK (credentialsRefused). Its text is the same at each refusal
// under the same keys, so the Metered condition that quotes it is written
// once per tenant, not at each try; the marketplace's own answer, which
// may change from one try to the next, is in the product's Event and in
// Unwrap.
type keysRefusedError struct {
	// secret is the keys Secret the refused keys were read from.
	secret types.NamespacedName
	// basicKeys is how many basic keys were each refused; 0 when the AK/SK was.
	basicKeys int
	// answer is the marketplace's refusal (of the first key).
	answer error
}

func (e *keysRefusedError) Error() string {
	var apiErr *koogallery.APIError
	code := "no code"
	if errors.As(e.answer, &apiErr) {
		code = fmt.Sprintf("%s, HTTP %d", cmp.Or(apiErr.Code, "no code"), apiErr.HTTPStatus)
	}
	what := fmt.Sprintf("the AK/SK it is signed with (%s): the keys Secret %s must hold the accessKeyId and secretAccessKey of the seller's account",
		code, e.secret)
	switch {
	case e.basicKeys == 1:
		what = fmt.Sprintf("its signature with the product's basic key (%s): the keys Secret %s must hold the basic key the Seller Console shows, "+
			"as basicKey or a basicKey.<suffix>", code, e.secret)
	case e.basicKeys > 1:
		what = fmt.Sprintf("its signature with each of the product's %d basic keys (%s): the keys Secret %s must hold the basic key "+
			"the Seller Console shows, as basicKey or a basicKey.<suffix>", e.basicKeys, code, e.secret)
	}
	return fmt.Sprintf("the marketplace refuses the usage push for %s; the usage waits, unpushed, and one tenant of the product "+
		"tries again every %s, every tenant once the keys Secret changes", what, keysRefusedRetry)
}

func (e *keysRefusedError) Unwrap() error { return e.answer }

// keysRefused remembers, for the whole product, that the marketplace
// refused the push's keys, and says so in a Warning Event on the product
// the first time under these keys; it returns refusal.
func (r *MeteringReconciler) keysRefused(ctx context.Context, p *usagePush, refusal *keysRefusedError) error {
	if ctx.Err() != nil {
		return refusal // a push cut by a stop tells nothing of the keys
	}
	if r.refusedKeys.refused(p.product.Name, p.keysFingerprint, refusal, r.Clock.Now()) {
		r.Recorder.Eventf(p.product, nil, corev1.EventTypeWarning, saasv1alpha1.UsageKeysRefusedReason, "Metering",
			"Usage pushes of this product are refused: %s. The marketplace answered: %s",
			refusal.Error(), textcut.Bytes(refusal.answer.Error(), 512))
	}
	return refusal
}

// refusedKeysMemory remembers, per product (by name), that the marketplace
// refused a usage push for the product's keys (keysRefusedError), under
// which keys (their fingerprint), and when one of its tenants may try
// again. Every push of the product would be refused alike: without it,
// each tenant with usage to push tried each key after each backoff (at
// most a minute), 333 refused pushes and 167 reads of a tenant from the
// API server a second for 10,000 tenants and 2 keys. With it, the
// product's tenants wait (waitForKeys), and one tries again every
// keysRefusedRetry. A keys Secret whose keys changed is tried at once:
// its fingerprint differs, and its change wakes the waiting tenants
// (tenantsWaitingForKeys). It lives in memory only: a restarted kooper
// finds out again at the cost of one refused push. The zero value is
// ready to use.
type refusedKeysMemory struct {
	mu        sync.Mutex
	byProduct map[string]keysRefusal
}

// keysRefusal is what refusedKeysMemory holds of one product.
type keysRefusal struct {
	keys    keysFingerprint
	refusal *keysRefusedError
	// nextTry is when one of the product's tenants may push again.
	nextTry time.Time
}

// holds reports whether a refusal is remembered for product, so that a
// product whose keys are taken costs no read of its keys Secret.
func (m *refusedKeysMemory) holds(product string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.byProduct[product]
	return ok
}

// mayPush returns nil when a tenant of product may push with keys at now:
// no refusal is remembered under these keys (one under other keys is
// forgotten), or the wait is over and the caller is the one tenant that
// tries (the next try moves keysRefusedRetry on). Otherwise it returns the
// refusal, and when the next try is.
func (m *refusedKeysMemory) mayPush(product string, keys keysFingerprint, now time.Time) (*keysRefusedError, time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	was, ok := m.byProduct[product]
	switch {
	case !ok:
		return nil, time.Time{}
	case was.keys != keys:
		delete(m.byProduct, product)
		return nil, time.Time{}
	case !now.Before(was.nextTry):
		was.nextTry = now.Add(keysRefusedRetry)
		m.byProduct[product] = was
		return nil, time.Time{}
	}
	return was.refusal, was.nextTry
}

// refused remembers refusal of product's keys at now, and reports whether
// it is news: no refusal was remembered under these keys.
func (m *refusedKeysMemory) refused(product string, keys keysFingerprint, refusal *keysRefusedError, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byProduct == nil {
		m.byProduct = map[string]keysRefusal{}
	}
	was, ok := m.byProduct[product]
	news := !ok || was.keys != keys
	next := now.Add(keysRefusedRetry)
	if !news && was.nextTry.After(next) {
		next = was.nextTry
	}
	m.byProduct[product] = keysRefusal{keys: keys, refusal: refusal, nextTry: next}
	return news
}

// forget drops what is remembered of product.
func (m *refusedKeysMemory) forget(product string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.byProduct, product)
}

// waitForKeys keeps a tenant from pushing while the marketplace refuses
// its product's keys (refusedKeysMemory), before the tenant is read again
// from the API server: Metered=False says why, in the words of the push
// refused (no Event: the product's says it once), and the tenant comes
// back after the product's next try. Its windows stay unpushed: the
// cursor does not move, and the 21-day cut (skipExpired) runs in the pass
// that pushes. It reports whether the tenant waits. The keys Secret is
// read only while a refusal is remembered; a failed read is left to the
// push, which reports it.
func (r *MeteringReconciler) waitForKeys(ctx context.Context, t *saasv1alpha1.SaaSTenant, product *saasv1alpha1.SaaSProduct, now time.Time) (ctrl.Result, bool, error) {
	if !r.refusedKeys.holds(product.Name) {
		return ctrl.Result{}, false, nil
	}
	keys, err := r.readPushKeys(ctx, product)
	if err != nil {
		return ctrl.Result{}, false, nil
	}
	refusal, next := r.refusedKeys.mayPush(product.Name, keys.fingerprint, now)
	if refusal == nil {
		return ctrl.Result{}, false, nil
	}
	err = r.patchMetering(ctx, t, func(*saasv1alpha1.TenantMetering) {
		setMeteredCondition(t, metav1.ConditionFalse, saasv1alpha1.UsagePushFailedReason, refusal.Error())
	})
	return ctrl.Result{RequeueAfter: timeUntil(now, next) + r.pushOffset(t.Name)%keysWaitSpread}, true, err
}

// signingKeyMemory remembers, per product (by name), the name of the basic
// key the marketplace last accepted a usage push signed with, when that
// was not the first key productkeys.Named lists: while a rotation is under way,
// every push then starts with the key the Seller Console signs with, not
// with one refused request. It lives in memory only, which is safe: a
// restarted kooper starts again from basicKey, and a refused push is sent
// again with the next keys (pushSigned), at the cost of one refused request.
// The zero value is ready to use.
type signingKeyMemory struct {
	byProduct sync.Map // product name → key name
}

// inOrder returns keys (in productkeys.Named's order) with the product's
// remembered key first, when the Secret still holds it.
func (m *signingKeyMemory) inOrder(product string, keys []productkeys.Key) []productkeys.Key {
	name, ok := m.byProduct.Load(product)
	if !ok {
		return keys
	}
	i := slices.IndexFunc(keys, func(k productkeys.Key) bool { return k.Name == name })
	if i < 0 {
		m.byProduct.CompareAndDelete(product, name) // gone from the Secret: the rotation ended
		return keys
	}
	return firstKey(keys, i)
}

// accepted remembers that the marketplace accepted keys[i] for product,
// says so once in the log (by the key's name), and returns keys with it
// first.
func (m *signingKeyMemory) accepted(ctx context.Context, product string, keys []productkeys.Key, i int) []productkeys.Key {
	if was, loaded := m.byProduct.Swap(product, keys[i].Name); !loaded || was != keys[i].Name {
		ctrl.LoggerFrom(ctx).Info("The marketplace accepts usage pushes signed with another basic key than the first one; "+
			"finish the rotation by writing that key into basicKey and deleting the basicKey.<suffix> that holds it",
			"product", product, "key", keys[i].Name)
	}
	return firstKey(keys, i)
}

// firstKey returns a copy of keys with keys[i] moved to the front and the
// others in their order.
func firstKey(keys []productkeys.Key, i int) []productkeys.Key {
	out := make([]productkeys.Key, 0, len(keys))
	out = append(out, keys[i])
	out = append(out, keys[:i]...)
	return append(out, keys[i+1:]...)
}

// countAccepted counts the accepted and duplicate records per meter.
func countAccepted(pending []pendingRecord, failed []koogallery.UsageRecordError) {
	dup := map[string]bool{}
	for _, f := range failed {
		dup[answeredSN(f.MeteringSN)] = f.Duplicate()
	}
	for _, rec := range pending {
		if !sendable(rec) {
			continue
		}
		switch isDup, refused := dup[answeredSN(rec.record.MeteringSN)]; {
		case isDup:
			usagePushed.WithLabelValues(rec.meter, "duplicate").Inc()
		case !refused:
			usagePushed.WithLabelValues(rec.meter, "accepted").Inc()
		}
	}
}

// sendable reports whether a record goes to the marketplace: all but the
// uncovered usage held back and the records a window had no second left
// for.
func sendable(rec pendingRecord) bool { return !rec.held() && !rec.crowded }

// usageWindowTooShortReason is the reason of the Warning Event
// announceCrowded sends.
const usageWindowTooShortReason = "UsageWindowTooShort"

// announceCrowded says, in a Warning Event per window, which meters' usage
// of the first done windows was not pushed because the window had fewer
// whole seconds than records (metering.Periods): usage never billed,
// small as it is (the window lasts seconds), which the merchant should
// hear of. The meters are names the merchant chose.
func (r *MeteringReconciler) announceCrowded(t *saasv1alpha1.SaaSTenant, windows []metering.Window, pending []pendingRecord, done int) {
	crowded := make([][]string, done)
	for _, rec := range pending {
		if rec.crowded && rec.window < done && !slices.Contains(crowded[rec.window], rec.meter) {
			crowded[rec.window] = append(crowded[rec.window], rec.meter)
		}
	}
	for i, meters := range crowded {
		if len(meters) == 0 {
			continue
		}
		w := windows[i]
		r.Recorder.Eventf(t, nil, corev1.EventTypeWarning, usageWindowTooShortReason, "Metering",
			"Usage of meter(s) %s from %s to %s was not pushed: the window has fewer whole seconds than records, "+
				"and the marketplace takes one record of an instance per period (spec §6.4)",
			strings.Join(meters, ", "), w.Start.UTC().Format(time.RFC3339), w.End.UTC().Format(time.RFC3339))
	}
}

// codeLabel keeps the code label bounded: the documented codes, or "other".
func codeLabel(code string) string {
	if len(code) == 3 && code >= "001" && code <= "013" {
		return code
	}
	return "other"
}

// advance moves the cursor past the first done windows and adds their
// accepted values to the totals, in one optimistic-lock write. The
// in-flight push keeps the records of the windows after them, to be sent
// again as they are; it is cleared once every window is done. The totals
// stay within their bound (metering.AddBoundedTotal); those dropped for it
// are announced once written (announceDroppedTotals). A write refused for
// another reason than a conflict (which only asks for a pass from the
// newer tenant) turns Metered False with the API server's answer, written
// from the tenant as it was before this write: left as it was, Metered
// would go on saying the usage is pushed while the cursor stands still.
func (r *MeteringReconciler) advance(ctx context.Context, p *usagePush, windows []metering.Window, pending []pendingRecord, done int) error {
	now := r.Clock.Now()
	until := windows[done-1].End
	unchanged := p.tenant.DeepCopy()
	var dropped droppedTotals
	err := r.patchMetering(ctx, p.tenant, func(m *saasv1alpha1.TenantMetering) {
		dropped = droppedTotals{}
		for _, rec := range pending {
			if rec.window < done && rec.units > 0 && sendable(rec) {
				dropped.meters = append(dropped.meters, metering.AddBoundedTotal(m, rec.meter, rec.units, p.meters)...)
			}
		}
		if p.split != nil {
			dropped.uncovered = settle(m, pending, done, p.meters)
			setExhausted(p.tenant, now)
		}
		t := metav1.NewTime(until)
		m.PushedUntil = &t
		m.Segments = metering.PruneSegments(m.Segments, until)
		m.InFlight = inFlightAfter(windows, pending, done)
		// In the same write, and with a message that does not change every
		// hour, so a healthy tenant costs two status writes per hour: the
		// in-flight push, and this. Records refused for good are behind the
		// cursor from this write on: it says so itself, so an operator
		// stopped before another write cannot leave them unreported.
		switch {
		case len(p.refused) > 0:
			setMeteredCondition(p.tenant, metav1.ConditionFalse, saasv1alpha1.UsageRejectedReason, metering.RefusalSummary(p.refused))
		case p.retryErr == nil:
			setMeteredCondition(p.tenant, metav1.ConditionTrue, saasv1alpha1.SucceededReason, "Usage is pushed up to status.metering.pushedUntil")
		}
	})
	switch {
	case err == nil:
		r.announceDroppedTotals(p.tenant, dropped)
		return nil
	case onlyConflictLeaves(err):
		return err
	}
	*p.tenant = *unchanged
	return r.recordFailure(ctx, p.tenant, saasv1alpha1.UsagePushFailedReason,
		fmt.Errorf("the usage up to %s was pushed, but the cursor did not move: %w; the push is sent again, "+
			"answered as duplicates, until the write goes through", until.UTC().Format(time.RFC3339), err))
}

// meterTotalsDroppedReason is the reason of the Normal Event
// announceDroppedTotals sends.
const meterTotalsDroppedReason = "MeterTotalsDropped"

// droppedTotals are the entries a write that moved the cursor dropped from
// status.metering.meters and status.metering.uncovered to keep them within
// their bound (metering.AddBoundedUsage).
type droppedTotals struct {
	meters, uncovered []saasv1alpha1.MeterUsage
}

// announceDroppedTotals names, in a Normal Event, the entries dropped and
// their values, the only record of them left. queryInstance's usageInfo
// reports one entry per total in status.metering.meters (naming no
// meter), so the buyer sees one fewer per total dropped. No one must act:
// the product no longer meters them, and their usage was pushed.
func (r *MeteringReconciler) announceDroppedTotals(t *saasv1alpha1.SaaSTenant, d droppedTotals) {
	var says []string
	if len(d.meters) > 0 {
		says = append(says, fmt.Sprintf("the cumulative totals of %s from status.metering.meters, which queryInstance "+
			"no longer reports in usageInfo (their usage was pushed and stays billed)", usageList(d.meters)))
	}
	if len(d.uncovered) > 0 {
		says = append(says, fmt.Sprintf("the usage no package covered of %s from status.metering.uncovered", usageList(d.uncovered)))
	}
	if len(says) == 0 {
		return
	}
	r.Recorder.Eventf(t, nil, corev1.EventTypeNormal, meterTotalsDroppedReason, "Metering",
		"Dropped %s: the product no longer meters them, and each list holds at most %d meters",
		strings.Join(says, "; and "), metering.MaxMeterUsages)
}

// usageList writes usages as "name (total)", comma-separated.
func usageList(usages []saasv1alpha1.MeterUsage) string {
	parts := make([]string, len(usages))
	for i, u := range usages {
		parts[i] = fmt.Sprintf("%s (%s)", u.Name, u.Total)
	}
	return strings.Join(parts, ", ")
}

// announceRefusals sends a Warning Event naming the records refused for
// good in this pass; Metered=False says so until a later push goes
// through without refusals (advance).
func (r *MeteringReconciler) announceRefusals(t *saasv1alpha1.SaaSTenant, p *usagePush) {
	if len(p.refused) == 0 {
		return
	}
	r.Recorder.Eventf(t, nil, corev1.EventTypeWarning, saasv1alpha1.UsageRejectedReason, "Metering", "%s", metering.RefusalSummary(p.refused))
}

// equalMetering compares two metering statuses, nil included.
func equalMetering(a, b *saasv1alpha1.TenantMetering) bool {
	return apiequality.Semantic.DeepEqual(a, b)
}
