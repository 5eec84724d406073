package kubectlkooper

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/webhook"
)

// describeKind is the kind of describe's -o json|yaml document.
const describeKind = "TenantDescription"

// reportAPIVersion is the apiVersion of the plugin's own documents
// (describe's and check's -o json|yaml); they are printed, never stored.
const reportAPIVersion = "kubectl.kooper.io/v1alpha1"

func newDescribeCommand(e *env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "describe TENANT [-o json|yaml]",
		Short: "Show a tenant: conditions, callback history, the objects in its namespace and their health, and whether queryInstance returns appInfo now",
		Long: `Show a SaaSTenant (TENANT is its name, the instanceId): what the marketplace said, its conditions,
its last marketplace events, each object in its namespace with its health (kstatus: Current,
InProgress, Failed...), and whether queryInstance would return appInfo now, decided by the
receiver's own function (webhook.TenantAppInfo). Secrets are listed by name only.`,
		Example: "  kubectl kooper describe i-3f9a2c7d1e8b4a60",
		Args:    exactArgs(1, "one tenant (its instanceId)"),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(outputFormats, output) || output == "wide" {
				return usagef("-o is json or yaml, not %q", output)
			}
			c, err := e.clients()
			if err != nil {
				return err
			}
			d, err := describeTenant(cmd.Context(), c, e.namespace(cmd.Context(), c), args[0])
			if err != nil {
				return err
			}
			if output != "" {
				return printReport(e, describeKind, d, output)
			}
			d.print(e.Streams.Out, e.Now())
			return nil
		}),
	}
	addOutputFlag(cmd, &output, "json or yaml (default: a description)")
	return cmd
}

// description is what describe shows.
type description struct {
	Tenant *saasv1alpha1.SaaSTenant `json:"tenant"`
	// AppInfo is what queryInstance would answer now.
	AppInfo appInfoView `json:"appInfo"`
	// Objects are the objects in the tenant's namespace.
	Objects []objectHealth `json:"objects"`
}

// appInfoView is webhook.TenantAppInfo's decision, and whether the Secret
// the receiver takes the credentials from is there.
type appInfoView struct {
	Answer webhook.AppInfoAnswer `json:"answer"`
	Reason string                `json:"reason"`
	// CredentialsFrom is the Secret in kooper's namespace the receiver takes
	// the credentials from: the credentials key, which the password is
	// derived from, or for a tenant whose password an earlier kooper drew
	// at random, its copy. CredentialsFromPresent says whether it exists.
	CredentialsFrom        string `json:"credentialsFrom"`
	CredentialsFromPresent bool   `json:"credentialsFromPresent"`
	// CredentialsFromKeyID is the fingerprint of the key the credentials
	// key's Secret holds, as the controllers record it on the Secret
	// (saas.kooper.io/credentials-key-id); empty for a copy, or before
	// they have.
	CredentialsFromKeyID string `json:"credentialsFromKeyID,omitempty"`
}

// objectHealth is one object of the tenant's namespace and its kstatus.
type objectHealth struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// describeTenant reads the tenant, the receiver's decision and its
// namespace's objects. ns is kooper's namespace.
func describeTenant(ctx context.Context, c *clients, ns, name string) (*description, error) {
	t := &saasv1alpha1.SaaSTenant{}
	if err := c.client.Get(ctx, types.NamespacedName{Name: name}, t); err != nil {
		if apierrors.IsNotFound(err) {
			if c.client.Get(ctx, types.NamespacedName{Name: name}, &saasv1alpha1.License{}) == nil {
				return nil, fmt.Errorf("no SaaSTenant %s; it is a License: kubectl get license %s -o yaml", name, name)
			}
			return nil, fmt.Errorf("SaaSTenant %q not found: list tenants with kubectl kooper tenants", name)
		}
		return nil, fmt.Errorf("failed to read SaaSTenant %s: %w", name, err)
	}
	decision := webhook.TenantAppInfo(t)
	from := saasv1alpha1.CredentialsKeySecretName
	if t.Status.CredentialsKeyID == "" {
		from = saasv1alpha1.CredentialsCopyName(t.Name)
	}
	d := &description{Tenant: t, AppInfo: appInfoView{Answer: decision.Answer, Reason: decision.Reason,
		CredentialsFrom: ns + "/" + from}}
	// Metadata only: describe never reads a Secret's data.
	fromMeta := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}}
	err := c.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: from}, fromMeta)
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("failed to read Secret %s/%s: %w", ns, from, err)
	}
	d.AppInfo.CredentialsFromPresent = err == nil
	if err == nil && t.Status.CredentialsKeyID != "" {
		d.AppInfo.CredentialsFromKeyID = fromMeta.Annotations[saasv1alpha1.CredentialsKeyIDAnnotation]
	}
	if t.Status.Namespace != "" {
		if d.Objects, err = namespaceHealth(ctx, c.client, t.Status.Namespace); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// healthKinds are the kinds describe lists in a tenant's namespace: what a
// product's template or chart makes. metadataOnly kinds are listed without
// their content (Secrets: never read; ConfigMaps: not needed), and are
// Current once they exist.
var healthKinds = []struct {
	gvk          schema.GroupVersionKind
	metadataOnly bool
}{
	{gvk: schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}},
	{gvk: schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"}},
	{gvk: schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "DaemonSet"}},
	{gvk: schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "Job"}},
	{gvk: schema.GroupVersionKind{Version: "v1", Kind: "Pod"}},
	{gvk: schema.GroupVersionKind{Version: "v1", Kind: "Service"}},
	{gvk: schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}},
	{gvk: schema.GroupVersionKind{Version: "v1", Kind: "PersistentVolumeClaim"}},
	{gvk: schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"}},
	{gvk: schema.GroupVersionKind{Version: "v1", Kind: "ResourceQuota"}},
	{gvk: schema.GroupVersionKind{Version: "v1", Kind: "LimitRange"}},
	{gvk: schema.GroupVersionKind{Version: "v1", Kind: "ServiceAccount"}, metadataOnly: true},
	{gvk: schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, metadataOnly: true},
	{gvk: schema.GroupVersionKind{Version: "v1", Kind: "Secret"}, metadataOnly: true},
}

// namespaceHealth lists healthKinds in namespace, each object with its
// kstatus, by kind then name.
func namespaceHealth(ctx context.Context, c client.Client, namespace string) ([]objectHealth, error) {
	out := []objectHealth{}
	for _, k := range healthKinds {
		listGVK := k.gvk.GroupVersion().WithKind(k.gvk.Kind + "List")
		if k.metadataOnly {
			list := &metav1.PartialObjectMetadataList{}
			list.SetGroupVersionKind(listGVK)
			if err := c.List(ctx, list, client.InNamespace(namespace)); err != nil {
				return nil, fmt.Errorf("failed to list %ss in %s: %w", k.gvk.Kind, namespace, err)
			}
			for _, item := range list.Items {
				out = append(out, objectHealth{Kind: k.gvk.Kind, Name: item.Name, Status: string(status.CurrentStatus)})
			}
			continue
		}
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(listGVK)
		if err := c.List(ctx, list, client.InNamespace(namespace)); err != nil {
			return nil, fmt.Errorf("failed to list %ss in %s: %w", k.gvk.Kind, namespace, err)
		}
		for i := range list.Items {
			out = append(out, health(k.gvk.Kind, &list.Items[i]))
		}
	}
	return out, nil
}

// health is one object's kstatus, as kooper judges a chart tenant's objects.
func health(kind string, u *unstructured.Unstructured) objectHealth {
	h := objectHealth{Kind: kind, Name: u.GetName()}
	res, err := status.Compute(u)
	if err != nil {
		h.Status, h.Message = string(status.UnknownStatus), err.Error()
		return h
	}
	h.Status, h.Message = string(res.Status), res.Message
	return h
}

// print writes the description for a person.
func (d *description) print(w io.Writer, now time.Time) {
	t := d.Tenant
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	field := func(name, value string) { fmt.Fprintf(tw, "%s:\t%s\n", name, value) }
	field("Name", t.Name)
	field("Product", t.Spec.ProductName)
	field("Plan", planCell(t))
	field("State", stateCell(t))
	if c := frozenCondition(t); c != nil {
		field("Frozen", orNone(frozenMeaning(c)))
	}
	field("Mode", orNone(string(t.Spec.Mode)))
	field("Order", t.Spec.OrderID+" / "+t.Spec.OrderLineID)
	field("Expiry", timeOrNone(t.Status.ExpireTime))
	field("Namespace", orNone(t.Status.Namespace))
	field("Front-end URL", orNone(t.Status.FrontEndURL))
	field("Admin URL", orNone(t.Status.AdminURL))
	field("Age", age(t.CreationTimestamp.Time, now))
	field("queryInstance", d.appInfoLine())
	_ = tw.Flush()

	fmt.Fprintln(w, "\nConditions:")
	rows := [][]string{{"TYPE", "STATUS", "REASON", "AGE", "MESSAGE"}}
	for _, c := range t.Status.Conditions {
		rows = append(rows, []string{c.Type, string(c.Status), c.Reason, age(c.LastTransitionTime.Time, now), c.Message})
	}
	printRows(w, rows)

	fmt.Fprintln(w, "\nCallback history (oldest first):")
	rows = [][]string{{"AGE", "ACTIVITY", "ORDER", "STATE", "RESULT", "CHANGE"}}
	for _, h := range t.Status.History {
		rows = append(rows, []string{age(h.Time.Time, now), h.Activity, orNone(h.OrderID), string(h.State), string(h.Result), h.Change})
	}
	printRows(w, rows)

	fmt.Fprintf(w, "\nObjects in namespace %s:\n", orNone(t.Status.Namespace))
	rows = [][]string{{"KIND", "NAME", "STATUS", "MESSAGE"}}
	for _, o := range d.Objects {
		rows = append(rows, []string{o.Kind, o.Name, o.Status, o.Message})
	}
	printRows(w, rows)
}

// frozenMeaning is what a Frozen condition's message says the freeze
// does (scaled to zero, Ingress removed, until when): the line beside
// "Frozen:" drops the message's own "Frozen: " so as not to say it twice.
func frozenMeaning(c *metav1.Condition) string {
	return strings.TrimPrefix(c.Message, "Frozen: ")
}

// appInfoLine says what queryInstance answers now, and warns when the
// receiver would fail to read the credentials it decided to deliver: their
// Secret is missing, or the credentials key there is, by the fingerprint
// recorded on it, not the one the tenant's password was derived from.
func (d *description) appInfoLine() string {
	line := fmt.Sprintf("appInfo %s: %s", d.AppInfo.Answer, d.AppInfo.Reason)
	if d.AppInfo.Answer != webhook.AppInfoDelivered {
		return line
	}
	id, held := d.Tenant.Status.CredentialsKeyID, d.AppInfo.CredentialsFromKeyID
	switch {
	case !d.AppInfo.CredentialsFromPresent:
		until := "the controllers copy it"
		if id != "" {
			until = "it is restored from a backup"
		}
		line += fmt.Sprintf("; but Secret %s is missing, so it would answer 000005 until %s", d.AppInfo.CredentialsFrom, until)
	case id != "" && held == saasv1alpha1.CredentialsKeyIDNone:
		line += fmt.Sprintf("; but Secret %s holds no usable key, so it would answer 000005 until key %s is restored from a backup",
			d.AppInfo.CredentialsFrom, id)
	case id != "" && held != "" && held != id:
		line += fmt.Sprintf("; but Secret %s holds key %s, not key %s from which this tenant's password was derived, "+
			"so it would answer 000005 until key %s is restored from a backup", d.AppInfo.CredentialsFrom, held, id, id)
	}
	return line
}

// printRows prints rows aligned, or "  <none>" when only the header is there.
func printRows(w io.Writer, rows [][]string) {
	if len(rows) == 1 {
		fmt.Fprintln(w, "  <none>")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, "  "+strings.Join(r, "\t"))
	}
	_ = tw.Flush()
}

// printReport prints one of the plugin's own documents (v, a struct) as
// JSON or YAML, with reportAPIVersion and kind, through cli-runtime's
// printers.
func printReport(e *env, kind string, v any, output string) error {
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(v)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: content}
	u.SetAPIVersion(reportAPIVersion)
	u.SetKind(kind)
	p, err := jsonYAMLPrinter(output)
	if err != nil {
		return err
	}
	return p.PrintObj(u, e.Streams.Out)
}
