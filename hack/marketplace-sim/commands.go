package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// The callback subcommands. Each signs one callback as the marketplace
// does, prints the request and the answer, and exits 0 only when the answer
// is one the marketplace counts as success.

// Result codes the marketplace counts as success (§1.6): 000000 always,
// 000004 for newInstance and queryInstance while provisioning runs.
var (
	successCodes = []string{string(koogallery.ResultSuccess)}
	pendingCodes = []string{string(koogallery.ResultSuccess), string(koogallery.ResultProcessing)}
)

// licenseTimeLayout is getLicenseAsync's time format, from the docs'
// example "2023-10-27 10:30:15 z" (§3.10).
const licenseTimeLayout = "2006-01-02 15:04:05 z"

// call signs b, prints the request, sends it and prints the answer.
func (c *cli) call(ctx context.Context, m *marketplace, b callbackBody) (*answer, error) {
	req, err := m.sign(b)
	if err != nil {
		return nil, err
	}
	printRequest(c.stdout, m, req)
	a, err := m.send(ctx, req)
	if err != nil {
		return nil, err
	}
	printAnswer(c.stdout, a, m.key, m.showCredentials)
	return a, nil
}

// outcome is nil when the answer is well formed and its code is one of ok.
func outcome(a *answer, ok []string) error {
	if problem := a.envelopeProblem(); problem != "" {
		return fmt.Errorf("the marketplace would not accept this answer: %s", problem)
	}
	if !slices.Contains(ok, a.code()) {
		return fmt.Errorf("the receiver answered %s; the marketplace counts only %s as success", a.codeAndMessage(), strings.Join(ok, " or "))
	}
	return nil
}

// callAndCheck is call followed by outcome.
func (c *cli) callAndCheck(ctx context.Context, m *marketplace, b callbackBody, ok []string) (*answer, error) {
	a, err := c.call(ctx, m, b)
	if err != nil {
		return nil, err
	}
	return a, outcome(a, ok)
}

// register registers an order on the simulator when --sim-url is set.
func (c *cli) register(ctx context.Context, p *purchaseFlags, reg orderRegistration) error {
	if p.simURL == "" {
		return nil
	}
	sim, err := newSimClient(p.simURL)
	if err != nil {
		return err
	}
	if err := sim.register(ctx, reg); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "Registered order %s (%s, %s, %s) on the simulator at %s\n\n", reg.OrderID, reg.OrderType, reg.ChargingMode, reg.SKUCode, p.simURL)
	return nil
}

// isSet reports whether the flag was given on the command line, to tell
// "not given" from "given empty".
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// newInstanceCommand is `new-instance`.
func newInstanceCommand() command {
	return command{
		name:    "new-instance",
		summary: "Announce a paid purchase (newInstance); optionally register the order on serve first and wait for appInfo.",
		example: `  go run ./hack/marketplace-sim new-instance --url http://127.0.0.1:8082/koogallery/crm \
    --sim-url http://127.0.0.1:9099 --sku 0a4d1578-5295-46a7-92d4-7c803dccc51d --period month --periods 3 --wait 2m`,
		run: runNewInstance,
	}
}

// newInstanceFlags are new-instance's flags.
type newInstanceFlags struct {
	callback     callbackFlags
	order        orderFlags
	purchase     purchaseFlags
	orderType    string
	businessID   string
	wait         time.Duration
	pollInterval time.Duration
}

// bind registers the flags.
func (f *newInstanceFlags) bind(fs *flag.FlagSet) {
	f.callback.bind(fs)
	f.order.bind(fs, "the purchase order")
	f.purchase.bind(fs)
	fs.StringVar(&f.orderType, "order-type", koogallery.OrderNew, "orderType registered with --sim-url: NEW, or TRIAL for a trial")
	fs.StringVar(&f.businessID, "business-id", "", "businessId (default: a fresh UUID, as the marketplace sends on every request)")
	fs.DurationVar(&f.wait, "wait", 0, "poll queryInstance until appInfo arrives or this much time passes, then report how long it took (0: do not wait)")
	fs.DurationVar(&f.pollInterval, "poll-interval", time.Second, "time between queryInstance polls with --wait")
}

// runNewInstance registers the order (with --sim-url), sends newInstance
// and, with --wait, polls queryInstance for appInfo.
func runNewInstance(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlagSet("new-instance")
	var f newInstanceFlags
	f.bind(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	m, err := f.callback.marketplace(c)
	if err != nil {
		return err
	}
	if err := f.validate(); err != nil {
		return err
	}
	f.order.resolve(c.ids)
	if f.businessID == "" {
		f.businessID = c.ids.businessID()
	}
	if err := c.register(ctx, &f.purchase, f.purchase.registration(f.order.orderID, f.order.orderLineID, f.orderType, "")); err != nil {
		return err
	}
	start := time.Now()
	body := newInstanceBody(f.order.orderID, f.order.orderLineID, f.businessID, f.callback.debug)
	a, err := c.callAndCheck(ctx, m, body, pendingCodes)
	if err != nil {
		return err
	}
	if a.body.InstanceID == "" {
		return fmt.Errorf("the answer has no instanceId, which newInstance must return")
	}
	if f.wait == 0 {
		return nil
	}
	return c.waitForAppInfo(ctx, m, a, pollOptions{wait: f.wait, interval: f.pollInterval, start: start, debug: f.callback.debug})
}

// validate checks new-instance's flags.
func (f *newInstanceFlags) validate() error {
	if err := f.purchase.validate(); err != nil {
		return err
	}
	switch {
	case !slices.Contains(orderTypes, f.orderType):
		return usagef("--order-type must be one of %s", strings.Join(orderTypes, ", "))
	case f.wait < 0:
		return usagef("--wait must not be negative")
	case f.pollInterval <= 0:
		return usagef("--poll-interval must be positive")
	}
	return nil
}

// queryInstanceCommand is `query-instance`.
func queryInstanceCommand() command {
	return command{
		name:    "query-instance",
		summary: "Ask for instance information (queryInstance), as the marketplace polls and the buyer's resource page does.",
		example: `  go run ./hack/marketplace-sim query-instance --url http://127.0.0.1:8082/koogallery/crm --instance-id i-3f9a2c7d1e8b4a60`,
		run:     runQueryInstance,
	}
}

// runQueryInstance sends queryInstance.
func runQueryInstance(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlagSet("query-instance")
	var cb callbackFlags
	cb.bind(fs)
	instanceID := fs.String("instance-id", "", "instanceId to query; several may be given separated by commas (at most 100)")
	if err := parse(fs, args); err != nil {
		return err
	}
	m, err := cb.marketplace(c)
	if err != nil {
		return err
	}
	if err := requireInstance(*instanceID); err != nil {
		return err
	}
	_, err = c.callAndCheck(ctx, m, queryInstanceBody(*instanceID, cb.debug), pendingCodes)
	return err
}

// refreshInstanceCommand is `refresh-instance`.
func refreshInstanceCommand() command {
	return command{
		name:    "refresh-instance",
		summary: "Renew, convert a trial, unsubscribe renewal periods or renew with a change (refreshInstance).",
		example: `  go run ./hack/marketplace-sim refresh-instance --url http://127.0.0.1:8082/koogallery/crm \
    --instance-id i-3f9a2c7d1e8b4a60 --scene RENEWAL --expire-time 20281121235959`,
		run: runRefreshInstance,
	}
}

// sceneOrderTypes maps a scene to the orderType of the order behind it.
var sceneOrderTypes = map[string]string{
	string(koogallery.SceneRenewal):                  koogallery.OrderRenew,
	string(koogallery.SceneTrialToFormal):            koogallery.OrderTrialToFormal,
	string(koogallery.SceneUnsubscribeRenewalPeriod): koogallery.OrderUnsubscribe,
	string(koogallery.SceneRenewalChange):            koogallery.OrderChange,
}

// refreshFlags are refresh-instance's flags.
type refreshFlags struct {
	callback   callbackFlags
	order      orderFlags
	purchase   purchaseFlags
	instanceID string
	scene      string
	expireTime string
}

// bind registers the flags.
func (f *refreshFlags) bind(fs *flag.FlagSet) {
	f.callback.bind(fs)
	f.order.bind(fs, "the renewal (or conversion, unsubscription) order")
	f.purchase.bind(fs)
	fs.StringVar(&f.instanceID, "instance-id", "", "instanceId to update")
	fs.StringVar(&f.scene, "scene", string(koogallery.SceneRenewal), "RENEWAL, TRIAL_TO_FORMAL, UNSUBSCRIBE_RENEWAL_PERIOD or RENEWAL_CHANGE")
	fs.StringVar(&f.expireTime, "expire-time", "", "new expiry, UTC yyyyMMddHHmmss (default: one year from now); productId is sent only when --product-id is given")
}

// runRefreshInstance sends refreshInstance for a new order.
func runRefreshInstance(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlagSet("refresh-instance")
	var f refreshFlags
	f.bind(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	m, err := f.callback.marketplace(c)
	if err != nil {
		return err
	}
	orderType, known := sceneOrderTypes[f.scene]
	if !known {
		return usagef("--scene must be RENEWAL, TRIAL_TO_FORMAL, UNSUBSCRIBE_RENEWAL_PERIOD or RENEWAL_CHANGE")
	}
	if err := firstErr(requireInstance(f.instanceID), f.purchase.validate()); err != nil {
		return err
	}
	if f.expireTime == "" {
		f.expireTime = c.now().UTC().AddDate(1, 0, 0).Format(layout14)
	}
	f.order.resolve(c.ids)
	if err := c.register(ctx, &f.purchase, f.purchase.registration(f.order.orderID, f.order.orderLineID, orderType, f.expireTime)); err != nil {
		return err
	}
	req := refreshRequest{scene: f.scene, orderID: f.order.orderID, orderLineID: f.order.orderLineID, instanceID: f.instanceID, expireTime: f.expireTime}
	// The marketplace sends productId only when the product changes (§3.4).
	if isSet(fs, "product-id") {
		req.productID = f.purchase.productID
	}
	_, err = c.callAndCheck(ctx, m, refreshInstanceBody(req, f.callback.debug), successCodes)
	return err
}

// statusCommand is `freeze` or `unfreeze`.
func statusCommand(name, status, summary string) command {
	return command{
		name:    name,
		summary: summary,
		example: fmt.Sprintf(`  go run ./hack/marketplace-sim %s --url http://127.0.0.1:8082/koogallery/crm --instance-id i-3f9a2c7d1e8b4a60`, name),
		run: func(ctx context.Context, c *cli, args []string) error {
			return runUpdateStatus(ctx, c, name, status, args)
		},
	}
}

// runUpdateStatus sends updateInstanceStatus with status.
func runUpdateStatus(ctx context.Context, c *cli, name, status string, args []string) error {
	fs := c.newFlagSet(name)
	var cb callbackFlags
	cb.bind(fs)
	instanceID := fs.String("instance-id", "", "instanceId to "+name)
	if err := parse(fs, args); err != nil {
		return err
	}
	m, err := cb.marketplace(c)
	if err != nil {
		return err
	}
	if err := requireInstance(*instanceID); err != nil {
		return err
	}
	_, err = c.callAndCheck(ctx, m, updateInstanceStatusBody(*instanceID, status, cb.debug), successCodes)
	return err
}

// upgradeInstanceCommand is `upgrade-instance`.
func upgradeInstanceCommand() command {
	return command{
		name:    "upgrade-instance",
		summary: "Apply a paid upgrade order (upgradeInstance); register it on serve with --sim-url and the target --sku.",
		example: `  go run ./hack/marketplace-sim upgrade-instance --url http://127.0.0.1:8082/koogallery/crm \
    --instance-id i-3f9a2c7d1e8b4a60 --sim-url http://127.0.0.1:9099 --sku 7c1e2f3a-9b8d-4c6e-a5f4-3d2c1b0a9e8f`,
		run: runUpgradeInstance,
	}
}

// runUpgradeInstance sends upgradeInstance for a new order.
func runUpgradeInstance(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlagSet("upgrade-instance")
	var cb callbackFlags
	var order orderFlags
	var purchase purchaseFlags
	cb.bind(fs)
	order.bind(fs, "the upgrade order")
	purchase.bind(fs)
	instanceID := fs.String("instance-id", "", "instanceId to upgrade; an upgrade keeps it")
	if err := parse(fs, args); err != nil {
		return err
	}
	m, err := cb.marketplace(c)
	if err != nil {
		return err
	}
	if err := firstErr(requireInstance(*instanceID), purchase.validate()); err != nil {
		return err
	}
	order.resolve(c.ids)
	if err := c.register(ctx, &purchase, purchase.registration(order.orderID, order.orderLineID, koogallery.OrderChange, "")); err != nil {
		return err
	}
	_, err = c.callAndCheck(ctx, m, upgradeInstanceBody(*instanceID, order.orderID, order.orderLineID, cb.debug), successCodes)
	return err
}

// orderNotifyCommand is `order-notify`.
func orderNotifyCommand() command {
	return command{
		name:    "order-notify",
		summary: "Notify an order (orderNotify, §3.9); register it on serve with --sim-url so the receiver's Query Order resolves it.",
		example: `  go run ./hack/marketplace-sim order-notify --url http://127.0.0.1:8082/koogallery/crm \
    --sim-url http://127.0.0.1:9099 --order-id CS2211181819B4LVS --order-type RENEW`,
		run: runOrderNotify,
	}
}

// runOrderNotify sends orderNotify for an order, new by default.
func runOrderNotify(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlagSet("order-notify")
	var cb callbackFlags
	var order orderFlags
	var purchase purchaseFlags
	cb.bind(fs)
	order.bind(fs, "the notified order")
	purchase.bind(fs)
	orderType := fs.String("order-type", koogallery.OrderNew, "orderType Query Order reports for the order on serve (NEW, RENEW, CHANGE, ...)")
	if err := parse(fs, args); err != nil {
		return err
	}
	m, err := cb.marketplace(c)
	if err != nil {
		return err
	}
	if err := purchase.validate(); err != nil {
		return err
	}
	order.resolve(c.ids)
	if err := c.register(ctx, &purchase, purchase.registration(order.orderID, order.orderLineID, *orderType, "")); err != nil {
		return err
	}
	_, err = c.callAndCheck(ctx, m, orderNotifyBody(order.orderID, order.orderLineID, cb.debug), successCodes)
	return err
}

// releaseInstanceCommand is `release-instance`.
func releaseInstanceCommand() command {
	return command{
		name:    "release-instance",
		summary: "Release an instance after its freeze period, or on unsubscription with --order-id (releaseInstance).",
		example: `  go run ./hack/marketplace-sim release-instance --url http://127.0.0.1:8082/koogallery/crm --instance-id i-3f9a2c7d1e8b4a60`,
		run:     runReleaseInstance,
	}
}

// runReleaseInstance sends releaseInstance. Unlike the other commands it
// sends no order unless one is given: only an unsubscription carries one.
func runReleaseInstance(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlagSet("release-instance")
	var cb callbackFlags
	var purchase purchaseFlags
	cb.bind(fs)
	purchase.bind(fs)
	instanceID := fs.String("instance-id", "", "instanceId to release")
	orderID := fs.String("order-id", "", "unsubscription order ID, when an unsubscription causes the release (default: none, as for a release after expiry)")
	orderLineID := fs.String("order-line-id", "", "its order line ID (default: <order-id>-000001)")
	if err := parse(fs, args); err != nil {
		return err
	}
	m, err := cb.marketplace(c)
	if err != nil {
		return err
	}
	if err := firstErr(requireInstance(*instanceID), purchase.validate()); err != nil {
		return err
	}
	if *orderID != "" {
		if *orderLineID == "" {
			*orderLineID = firstLine(*orderID)
		}
		if err := c.register(ctx, &purchase, purchase.registration(*orderID, *orderLineID, koogallery.OrderUnsubscribe, "")); err != nil {
			return err
		}
	}
	_, err = c.callAndCheck(ctx, m, releaseInstanceBody(*instanceID, *orderID, *orderLineID, cb.debug), successCodes)
	return err
}

// changeInstanceCheckCommand is `change-instance-check`.
func changeInstanceCheckCommand() command {
	return command{
		name:    "change-instance-check",
		summary: "Ask whether a renewal may change the specification to --sku (changeInstanceCheck).",
		example: `  go run ./hack/marketplace-sim change-instance-check --url http://127.0.0.1:8082/koogallery/crm \
    --instance-id i-3f9a2c7d1e8b4a60 --sku 7c1e2f3a-9b8d-4c6e-a5f4-3d2c1b0a9e8f`,
		run: runChangeInstanceCheck,
	}
}

// runChangeInstanceCheck sends changeInstanceCheck.
func runChangeInstanceCheck(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlagSet("change-instance-check")
	var cb callbackFlags
	cb.bind(fs)
	instanceID := fs.String("instance-id", "", "instanceId to change")
	sku := fs.String("sku", "", "target skuCode (required)")
	productID := fs.String("product-id", mockProductID, "target productId")
	linearValue := fs.String("linear-value", "", "target linearValue, a whole number (default: not sent)")
	if err := parse(fs, args); err != nil {
		return err
	}
	m, err := cb.marketplace(c)
	if err != nil {
		return err
	}
	if err := requireInstance(*instanceID); err != nil {
		return err
	}
	switch {
	case *sku == "":
		return usagef("--sku is required: the target specification")
	case *linearValue != "" && !jsonNumber(*linearValue).valid():
		return usagef("--linear-value must be a whole number")
	}
	req := changeCheckRequest{instanceID: *instanceID, productID: *productID, skuCode: *sku, linearValue: *linearValue}
	_, err = c.callAndCheck(ctx, m, changeInstanceCheckBody(req, cb.debug), successCodes)
	return err
}

// getLicenseAsyncCommand is `get-license-async`.
func getLicenseAsyncCommand() command {
	return command{
		name:    "get-license-async",
		summary: "Apply for a licence of a License product's instance (getLicenseAsync); it is uploaded to serve.",
		example: `  go run ./hack/marketplace-sim get-license-async --url http://127.0.0.1:8082/koogallery/cad-desktop \
    --instance-id i-3f9a2c7d1e8b4a60 --fingerprint 8f2c61e0d4b34e2a9c60e1`,
		run: runGetLicenseAsync,
	}
}

// runGetLicenseAsync sends getLicenseAsync.
func runGetLicenseAsync(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlagSet("get-license-async")
	var cb callbackFlags
	cb.bind(fs)
	instanceID := fs.String("instance-id", "", "instanceId the licence is for")
	eventID := fs.String("event-id", "", "eventId the licence is uploaded under (default: a fresh ID)")
	fingerprint := fs.String("fingerprint", "", "deviceFingerprint, for device-bound licences (default: not sent)")
	effective := fs.String("effective-time", "", `licence start, UTC, like "2023-10-27 10:30:15 z" (default: now)`)
	expire := fs.String("expire-time", "", `licence end, same format (default: one year from now; --expire-time "" leaves it out, as for a non-periodic product)`)
	if err := parse(fs, args); err != nil {
		return err
	}
	m, err := cb.marketplace(c)
	if err != nil {
		return err
	}
	if err := requireInstance(*instanceID); err != nil {
		return err
	}
	now := c.now().UTC()
	req := licenseRequest{eventID: *eventID, instanceID: *instanceID, effectiveTime: *effective, expireTime: *expire, fingerprint: *fingerprint}
	if req.eventID == "" {
		req.eventID = c.ids.eventID()
	}
	if req.effectiveTime == "" {
		req.effectiveTime = now.Format(licenseTimeLayout)
	}
	if req.expireTime == "" && !isSet(fs, "expire-time") {
		req.expireTime = now.AddDate(1, 0, 0).Format(licenseTimeLayout)
	}
	_, err = c.callAndCheck(ctx, m, getLicenseAsyncBody(req, cb.debug), successCodes)
	return err
}

// firstErr returns the first non-nil error.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
