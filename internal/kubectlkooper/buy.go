package kubectlkooper

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/selftest"
)

// buyFlags are buy's flags.
type buyFlags struct {
	product         string
	receiverURL     string
	orderID         string
	orderLineID     string
	timeout         time.Duration
	pollInterval    time.Duration
	progress        time.Duration
	showCredentials bool
}

func newBuyCommand(e *env) *cobra.Command {
	f := &buyFlags{}
	cmd := &cobra.Command{
		Use:   "buy --product NAME [--receiver-url URL] [--order-id ID] [--timeout 2m]",
		Short: "Make a debug purchase of a product through a port-forward to the receiver, printing each step",
		Long: `Make a debug purchase (testFlag 1) as the Seller Console's debugger does: read the product's
basicKey from its keys Secret, port-forward to the receiver's Service (or use --receiver-url),
send a signed newInstance, then a signed queryInstance every --poll-interval until appInfo
arrives, and decrypt its credentials with the basicKey to prove they are readable (for a
License product: say the licence key arrived in appInfo.memo). The debug tenant or licence
gets the product's debug.skuCode plan when Query Order does not know the order, and goes
after the product's debug.ttlSeconds. Exit 1 when a step fails or --timeout passes.`,
		Example: "  kubectl kooper buy --product crm",
		Args:    noArgs,
		RunE:    runE(func(cmd *cobra.Command, _ []string) error { return f.buy(cmd.Context(), e) }),
	}
	fs := cmd.Flags()
	fs.StringVar(&f.product, "product", "", "the SaaSProduct to buy (its name, the {product} of the production URL)")
	fs.StringVar(&f.receiverURL, "receiver-url", "", "the receiver's base URL (https://crm.example.com) or the product's production URL (https://crm.example.com/koogallery/<product>), instead of a port-forward to its Service")
	fs.StringVar(&f.orderID, "order-id", "", "the order's orderId (default: debug-<random>)")
	fs.StringVar(&f.orderLineID, "order-line-id", "", "the order's orderLineId (default: <orderId>-1)")
	fs.DurationVar(&f.timeout, "timeout", 2*time.Minute, "how long to wait for appInfo")
	fs.DurationVar(&f.pollInterval, "poll-interval", time.Second, "how often to send queryInstance while the tenant is provisioned")
	fs.DurationVar(&f.progress, "progress-interval", 10*time.Second, "how often to say buy is still waiting for appInfo")
	_ = fs.MarkHidden("progress-interval") // for tests
	fs.BoolVar(&f.showCredentials, "show-credentials", false, "print the decrypted user name and password of the debug tenant, or a License product's licence key")
	markRequired(cmd, "product")
	return cmd
}

// buyer is one purchase on its way.
type buyer struct {
	*buyFlags
	out     io.Writer
	errOut  io.Writer
	now     func() time.Time
	license bool // the product is of type License: appInfo.memo holds a licence key
	http    *http.Client
	url     string // the production URL
	key     string // the product's basicKey
	started time.Time
	reader  client.Reader // reads the record of the instance bought
}

// buy runs the purchase, printing each step to stdout.
func (f *buyFlags) buy(ctx context.Context, e *env) error {
	if f.timeout <= 0 || f.pollInterval <= 0 {
		return usagef("--timeout and --poll-interval must be positive")
	}
	base, named, err := parseReceiverURL(f.receiverURL)
	if err != nil {
		return err
	}
	if named != "" && named != f.product {
		return usagef("--receiver-url %q is the production URL of product %s, not of --product %s: give %s", f.receiverURL, named, f.product, receiverURLForms)
	}
	if err := f.defaultIDs(); err != nil {
		return err
	}
	c, err := e.clients()
	if err != nil {
		return err
	}
	ns := e.namespace(ctx, c)
	b := &buyer{buyFlags: f, out: e.Streams.Out, errOut: e.Streams.ErrOut, now: e.Now, http: &http.Client{Timeout: 10 * time.Second},
		started: time.Now(), reader: c.client}
	product, err := f.readProduct(ctx, c)
	if err != nil {
		return err
	}
	b.license = product.Spec.Type == saasv1alpha1.ProductTypeLicense
	if b.key, err = readBasicKey(ctx, c, ns, product, b.out); err != nil {
		return err
	}
	warnNoDebugPlan(b.errOut, product)
	base, stop, err := receiverEndpoint(ctx, c, ns, base, b.out)
	if err != nil {
		return err
	}
	defer stop()
	b.url = productionURL(base, f.product)
	instanceID, err := b.newInstance(ctx)
	if err != nil {
		return err
	}
	app, encryptType, err := b.awaitAppInfo(ctx, instanceID)
	if err != nil {
		return err
	}
	if err := b.printAppInfo(app, encryptType); err != nil {
		return err
	}
	fmt.Fprintf(b.out, "Done in %s. %s\n", time.Since(b.started).Round(time.Millisecond), b.seeIt(instanceID))
	return nil
}

// readiness is ", Ready <status> <reason>: <message>" of the record of
// the instance bought (its SaaSTenant, or its License), "" when it cannot
// be read: why there is no appInfo yet, in the record's own words.
func (b *buyer) readiness(ctx context.Context, instanceID string) string {
	record := b.newRecord()
	if err := b.reader.Get(ctx, client.ObjectKey{Name: instanceID}, record); err != nil {
		return ""
	}
	c := apimeta.FindStatusCondition(record.GetConditions(), saasv1alpha1.ReadyCondition)
	if c == nil {
		return ""
	}
	return fmt.Sprintf(", Ready %s %s: %s", c.Status, c.Reason, c.Message)
}

// record is the record of an instance bought: its SaaSTenant, or its
// License for a License product.
type record interface {
	client.Object
	GetConditions() []metav1.Condition
}

// newRecord is an empty record of the kind the product's instances have,
// as the receiver creates them (a License for a License product).
func (b *buyer) newRecord() record {
	if b.license {
		return &saasv1alpha1.License{}
	}
	return &saasv1alpha1.SaaSTenant{}
}

// recordKind is the kind of the product's records, for messages.
func (b *buyer) recordKind() string {
	if b.license {
		return "License"
	}
	return "SaaSTenant"
}

// recordGone reports whether the record of instanceID, which newInstance
// was just answered with, is not on the API server. The receiver answers a
// purchase 000000 or 000004 only once its record is stored under the
// instanceId (the record's name), except when the order line's instance
// was issued before and its record deleted since: then it answers 000000
// with the same instanceId and stores nothing (docs/lifecycle.md rule B).
// So NotFound here means gone for good. Any other failure to read (no
// right to, say) says nothing, and buy waits for appInfo as before.
func (b *buyer) recordGone(ctx context.Context, instanceID string) bool {
	err := b.reader.Get(ctx, client.ObjectKey{Name: instanceID}, b.newRecord())
	return apierrors.IsNotFound(err)
}

// errGoneOrderLine says why a purchase whose record is gone gets no
// appInfo however long buy waits, and what to do instead.
func (b *buyer) errGoneOrderLine(instanceID string) error {
	return fmt.Errorf("instance %s of order %s line %s was issued before and its %s deleted (its debug TTL, or by hand): "+
		"this order line is never provisioned again (docs/lifecycle.md rule B); buy without --order-id for a new order",
		instanceID, b.orderID, b.orderLineID, b.recordKind())
}

// seeIt is how to look at the instance bought: a SaaSTenant with describe,
// a License with kubectl get.
func (b *buyer) seeIt(instanceID string) string {
	if b.license {
		return "See the licence with: kubectl get license " + instanceID + " -o yaml"
	}
	return "See the tenant with: kubectl kooper describe " + instanceID
}

// defaultIDs fills in the order's IDs.
func (f *buyFlags) defaultIDs() error {
	if f.orderID == "" {
		suffix := make([]byte, 6)
		if _, err := rand.Read(suffix); err != nil {
			return err
		}
		f.orderID = "debug-" + hex.EncodeToString(suffix)
	}
	if f.orderLineID == "" {
		f.orderLineID = f.orderID + "-1"
	}
	return nil
}

// readProduct reads the SaaSProduct to buy; when there is none of that
// name, the error lists those there are.
func (f *buyFlags) readProduct(ctx context.Context, c *clients) (*saasv1alpha1.SaaSProduct, error) {
	p := &saasv1alpha1.SaaSProduct{}
	err := c.client.Get(ctx, types.NamespacedName{Name: f.product}, p)
	if err == nil {
		return p, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("failed to read SaaSProduct %s: %w", f.product, err)
	}
	list := &saasv1alpha1.SaaSProductList{}
	if err := c.client.List(ctx, list); err != nil || len(list.Items) == 0 {
		return nil, fmt.Errorf("failed to read SaaSProduct %s: no SaaSProduct of that name, and none exists (kubectl get saasproducts)", f.product)
	}
	names := make([]string, 0, len(list.Items))
	for i := range list.Items {
		names = append(names, list.Items[i].Name)
	}
	return nil, fmt.Errorf("failed to read SaaSProduct %s: no SaaSProduct of that name; --product is one of: %s", f.product, strings.Join(names, ", "))
}

// warnNoDebugPlan warns, before buying, when the product names no
// spec.debug.skuCode: the debug order then has a plan only if Query Order
// knows it, which the marketplace rarely does for a debug order.
func warnNoDebugPlan(w io.Writer, p *saasv1alpha1.SaaSProduct) {
	if p.Spec.Debug != nil && p.Spec.Debug.SKUCode != "" {
		return
	}
	fmt.Fprintf(w, "Warning: SaaSProduct %s has no spec.debug.skuCode: a debug order gets a plan only if Query Order knows it, "+
		"which the marketplace rarely does for a debug order; otherwise the record waits in OrderQueryFailed and appInfo never comes. "+
		"Set spec.debug.skuCode to one of the product's plans.\n", p.Name)
}

// readBasicKey reads the product's basicKey from its keys Secret in ns.
func readBasicKey(ctx context.Context, c *clients, ns string, p *saasv1alpha1.SaaSProduct, out io.Writer) (string, error) {
	secret := &corev1.Secret{}
	ref := types.NamespacedName{Namespace: ns, Name: p.Spec.KeysSecretName}
	if err := c.client.Get(ctx, ref, secret); err != nil {
		return "", fmt.Errorf("failed to read the product's keys Secret %s: %w", ref, err)
	}
	key := koogallery.KeyText(secret.Data[saasv1alpha1.BasicKeySecretKey])
	if key == "" {
		return "", fmt.Errorf("secret %s has no %s", ref, saasv1alpha1.BasicKeySecretKey)
	}
	fmt.Fprintf(out, "Product %s (productId %s): read basicKey from Secret %s\n", p.Name, p.Spec.ProductID, ref)
	return key, nil
}

// post sends one signed callback and decodes its answer into v.
func (b *buyer) post(ctx context.Context, body any, v any) (selftest.Answer, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return selftest.Answer{}, err
	}
	answer, err := selftest.Post(ctx, b.http, b.url, b.key, b.now(), raw)
	if err != nil {
		return answer, err
	}
	if err := json.Unmarshal(answer.Body, v); err != nil {
		return answer, fmt.Errorf("failed to decode the answer: %w", err)
	}
	return answer, nil
}

// newInstance sends the debug newInstance and returns the instance ID.
func (b *buyer) newInstance(ctx context.Context) (string, error) {
	businessID := make([]byte, 8)
	if _, err := rand.Read(businessID); err != nil {
		return "", err
	}
	req := koogallery.NewInstanceRequest{Activity: string(koogallery.ActivityNewInstance), OrderID: b.orderID,
		OrderLineID: b.orderLineID, BusinessID: hex.EncodeToString(businessID), TestFlag: "1"}
	var resp koogallery.NewInstanceResponse
	answer, err := b.post(ctx, req, &resp)
	if err != nil {
		return "", fmt.Errorf("newInstance: %w", err)
	}
	fmt.Fprintf(b.out, "newInstance (testFlag 1) order %s line %s: %s %q in %s\n", b.orderID, b.orderLineID, answer.Code, answer.Message,
		answer.Elapsed.Round(time.Millisecond))
	// 000000, or the receiver's pending code 000004 (the chart's
	// receiver.pendingResultCode) while the tenant is provisioning: either
	// way, with an instanceId, the instance is recorded, and queryInstance
	// tells when appInfo comes; unless its record is gone (recordGone).
	recorded := answer.Code == string(koogallery.ResultSuccess) || answer.Code == string(koogallery.ResultProcessing)
	switch {
	case !recorded:
		return "", fmt.Errorf("newInstance answered %s %q, not 000000 or 000004 (recorded, provisioning) with an instanceId", answer.Code, answer.Message)
	case resp.InstanceID == "":
		return "", fmt.Errorf("newInstance answered %s %q without an instanceId: the instance bought is unknown", answer.Code, answer.Message)
	case b.recordGone(ctx, resp.InstanceID):
		return "", b.errGoneOrderLine(resp.InstanceID)
	}
	fmt.Fprintf(b.out, "Instance %s recorded\n", resp.InstanceID)
	return resp.InstanceID, nil
}

// awaitAppInfo sends queryInstance until its answer carries appInfo,
// printing each answer that differs from the one before.
func (b *buyer) awaitAppInfo(ctx context.Context, instanceID string) (*koogallery.AppInfo, string, error) {
	var app *koogallery.AppInfo
	var encryptType, last string
	polls := 0
	lastPrinted := time.Now()
	err := wait.PollUntilContextTimeout(ctx, b.pollInterval, b.timeout, true, func(ctx context.Context) (bool, error) {
		polls++
		var resp koogallery.QueryInstanceResponse
		req := koogallery.QueryInstanceRequest{Activity: string(koogallery.ActivityQueryInstance), InstanceID: instanceID, TestFlag: "1"}
		answer, err := b.post(ctx, req, &resp)
		if err != nil {
			return false, fmt.Errorf("queryInstance: %w", err)
		}
		line := fmt.Sprintf("%s %q", answer.Code, answer.Message)
		switch {
		case len(resp.Info) == 1 && resp.Info[0].AppInfo != nil:
			app, encryptType = resp.Info[0].AppInfo, resp.EncryptType
			line += ", appInfo"
		case answer.Code == string(koogallery.ResultSuccess) || answer.Code == string(koogallery.ResultProcessing):
			line += ", no appInfo yet (provisioning)"
		default:
			return false, fmt.Errorf("queryInstance answered %s %q", answer.Code, answer.Message)
		}
		switch {
		case line != last:
			fmt.Fprintf(b.out, "queryInstance %s (%s after newInstance, poll %d): %s\n", instanceID,
				time.Since(b.started).Round(time.Millisecond), polls, line)
			last, lastPrinted = line, time.Now()
		case time.Since(lastPrinted) >= b.progress:
			fmt.Fprintf(b.out, "Still waiting for appInfo of %s (%s after newInstance, poll %d, --timeout %s)\n", instanceID,
				time.Since(b.started).Round(time.Second), polls, b.timeout)
			lastPrinted = time.Now()
		}
		return app != nil, nil
	})
	if err != nil {
		if wait.Interrupted(err) {
			return nil, "", fmt.Errorf("no appInfo for %s within %s%s. %s", instanceID, b.timeout, b.readiness(ctx, instanceID), b.seeIt(instanceID))
		}
		return nil, "", err
	}
	return app, encryptType, nil
}

// printAppInfo prints the URLs and proves the credentials decrypt; it
// prints them only with --show-credentials.
func (b *buyer) printAppInfo(app *koogallery.AppInfo, encryptType string) error {
	if encryptType == "" {
		encryptType = string(koogallery.EncryptAES256)
	}
	fmt.Fprintf(b.out, "appInfo: frontEndUrl %s, adminUrl %s\n", orNone(app.FrontEndURL), orNone(app.AdminURL))
	if b.license {
		return b.printLicenceKey(app)
	}
	user, err := koogallery.Decrypt(b.key, koogallery.EncryptType(encryptType), app.UserName)
	if err != nil {
		return fmt.Errorf("appInfo.userName does not decrypt with the basicKey: %w", err)
	}
	password, err := koogallery.Decrypt(b.key, koogallery.EncryptType(encryptType), app.Password)
	if err != nil {
		return fmt.Errorf("appInfo.password does not decrypt with the basicKey: %w", err)
	}
	if b.showCredentials {
		fmt.Fprintf(b.out, "credentials: userName %s, password %s\n", user, password)
		return nil
	}
	fmt.Fprintf(b.out, "credentials: userName and password decrypt with the basicKey (encryptType %s; --show-credentials prints them)\n", encryptType)
	return nil
}

// printLicenceKey says a License product's appInfo carries the licence key
// in memo (a License has no userName or password); it prints the key only
// with --show-credentials.
func (b *buyer) printLicenceKey(app *koogallery.AppInfo) error {
	if app.Memo == "" {
		return errors.New("appInfo.memo is empty: a License product's appInfo carries the licence key there")
	}
	if b.showCredentials {
		fmt.Fprintf(b.out, "licence key (appInfo.memo): %s\n", app.Memo)
		return nil
	}
	fmt.Fprintf(b.out, "licence key: delivered in appInfo.memo (%d characters; --show-credentials prints it, "+
		"kubectl kooper license inspect or verify reads it)\n", len(app.Memo))
	return nil
}
