package kubectlkooper

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// tenantsFlags are `tenants`' flags.
type tenantsFlags struct {
	product string
	state   string
	output  string
}

func newTenantsCommand(e *env) *cobra.Command {
	f := &tenantsFlags{}
	cmd := &cobra.Command{
		Use:     "tenants [--product NAME] [--state Active|Frozen|Released] [-o wide|json|yaml|name|jsonpath=TEMPLATE]",
		Aliases: []string{"tenant"},
		Short:   "List SaaS tenants: instance, product, plan, state, expiry, Ready, last callback, age",
		Example: `  kubectl kooper tenants
  kubectl kooper tenants --product crm --state Frozen -o wide
  kubectl kooper tenants -o jsonpath='{.items[*].spec.instanceId}'`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			c, err := e.clients()
			if err != nil {
				return err
			}
			list := &saasv1alpha1.SaaSTenantList{}
			if err := c.client.List(cmd.Context(), list); err != nil {
				return fmt.Errorf("failed to list SaaSTenants: %w", err)
			}
			list.Items = slices.DeleteFunc(list.Items, func(t saasv1alpha1.SaaSTenant) bool { return !f.matches(&t) })
			if len(list.Items) == 0 && (f.output == "" || f.output == "wide" || f.output == "name") {
				fmt.Fprintln(e.Streams.ErrOut, "No SaaSTenants found.")
				return nil
			}
			for i := range list.Items {
				list.Items[i].SetGroupVersionKind(saasv1alpha1.GroupVersion.WithKind("SaaSTenant"))
			}
			list.SetGroupVersionKind(saasv1alpha1.GroupVersion.WithKind("SaaSTenantList"))
			return printObject(e, list, tenantsTable(list.Items, e.Now()), f.output)
		}),
	}
	cmd.Flags().StringVar(&f.product, "product", "", "only the tenants of this SaaSProduct (its name)")
	cmd.Flags().StringVar(&f.state, "state", "", "only the tenants in this state: Active, Frozen or Released; "+
		"Frozen includes the Active tenants kooper froze itself (expired past the grace period, packages exhausted), which Active leaves out")
	addOutputFlag(cmd, &f.output, tenantsOutputHelp+" (default: a table)")
	return cmd
}

// states are the values --state takes: SaaSTenant spec.state.
var states = []saasv1alpha1.SubscriptionState{saasv1alpha1.StateActive, saasv1alpha1.StateFrozen, saasv1alpha1.StateReleased}

func (f *tenantsFlags) validate() error {
	if !slices.Contains(tenantsOutputFormats, f.output) && !strings.HasPrefix(f.output, jsonPathPrefix) {
		return usagef("-o is %s, not %q", tenantsOutputHelp, f.output)
	}
	if f.state == "" {
		return nil
	}
	for _, s := range states {
		if strings.EqualFold(f.state, string(s)) {
			f.state = string(s)
			return nil
		}
	}
	return usagef("--state is Active, Frozen or Released, not %q", f.state)
}

func (f *tenantsFlags) matches(t *saasv1alpha1.SaaSTenant) bool {
	return (f.product == "" || t.Spec.ProductName == f.product) && (f.state == "" || string(servingState(t)) == f.state)
}

// tenantState is spec.state, Active when unset (the schema's default):
// what the marketplace ordered.
func tenantState(t *saasv1alpha1.SaaSTenant) saasv1alpha1.SubscriptionState {
	if t.Spec.State == "" {
		return saasv1alpha1.StateActive
	}
	return t.Spec.State
}

// servingState is the state the tenant is in, which --state filters on:
// Frozen too for a tenant kooper froze itself, since it serves nobody
// whatever the marketplace ordered.
func servingState(t *saasv1alpha1.SaaSTenant) saasv1alpha1.SubscriptionState {
	if frozenByKooper(t) != nil {
		return saasv1alpha1.StateFrozen
	}
	return tenantState(t)
}

// frozenCondition is the tenant's Frozen condition while it is True, or nil.
func frozenCondition(t *saasv1alpha1.SaaSTenant) *metav1.Condition {
	c := apimeta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.FrozenCondition)
	if c == nil || c.Status != metav1.ConditionTrue {
		return nil
	}
	return c
}

// frozenByKooper is the Frozen condition of a tenant kooper froze on its
// own (the expiry safety net, packages exhausted), or nil: one whose
// spec.state still says Active, so nothing else shows it stopped.
func frozenByKooper(t *saasv1alpha1.SaaSTenant) *metav1.Condition {
	if tenantState(t) != saasv1alpha1.StateActive {
		return nil
	}
	return frozenCondition(t)
}

// frozenWhy words the reasons kooper freezes an Active tenant for,
// short enough for a table cell.
var frozenWhy = map[string]string{
	saasv1alpha1.FrozenByExpiryReason:     "expired",
	saasv1alpha1.FrozenByExhaustionReason: "packages exhausted",
}

// stateCell is the State `tenants` and describe show: spec.state, and for
// a tenant kooper froze, why, e.g. "Active (frozen: expired)", so that the
// marketplace's Active does not hide a tenant that serves nobody.
func stateCell(t *saasv1alpha1.SaaSTenant) string {
	state := string(tenantState(t))
	c := frozenByKooper(t)
	if c == nil {
		return state
	}
	why, known := frozenWhy[c.Reason]
	if !known {
		why = c.Reason // a reason newer than this plugin: still frozen
	}
	return fmt.Sprintf("%s (frozen: %s)", state, why)
}

// tenantsTable is the table `tenants` prints; the columns of priority 1
// show only with -o wide.
func tenantsTable(tenants []saasv1alpha1.SaaSTenant, now time.Time) *metav1.Table {
	table := &metav1.Table{ColumnDefinitions: []metav1.TableColumnDefinition{
		{Name: "Instance", Type: "string"}, {Name: "Product", Type: "string"}, {Name: "Plan", Type: "string"},
		{Name: "State", Type: "string"}, {Name: "Expiry", Type: "string"}, {Name: "Ready", Type: "string"},
		{Name: "Last Callback", Type: "string"}, {Name: "Age", Type: "string"},
		{Name: "Namespace", Type: "string", Priority: 1}, {Name: "URL", Type: "string", Priority: 1},
		{Name: "Message", Type: "string", Priority: 1},
	}}
	for i := range tenants {
		t := &tenants[i]
		ready, message := "Unknown", ""
		if c := apimeta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.ReadyCondition); c != nil {
			ready, message = string(c.Status), c.Message
		}
		table.Rows = append(table.Rows, metav1.TableRow{Cells: []any{
			t.Name, t.Spec.ProductName, planCell(t), stateCell(t), timeOrNone(t.Status.ExpireTime),
			ready, lastCallback(t, now), age(t.CreationTimestamp.Time, now),
			orNone(t.Status.Namespace), orNone(t.Status.FrontEndURL), message,
		}})
	}
	return table
}

// planCell is the plan the tenant's orders select and, while its objects
// still run another (a change that stalled, or is being applied), that
// one: "pro (runs basic)".
func planCell(t *saasv1alpha1.SaaSTenant) string {
	plan := orNone(t.Status.SKUCode)
	if a := t.Status.Applied; a != nil && t.Status.SKUCode != "" && a.SKUCode != t.Status.SKUCode {
		plan += " (runs " + a.SKUCode + ")"
	}
	return plan
}

// lastCallback is the latest marketplace event in the tenant's history,
// e.g. "refreshInstance 2d". queryInstance is never recorded.
func lastCallback(t *saasv1alpha1.SaaSTenant, now time.Time) string {
	if len(t.Status.History) == 0 {
		return "<none>"
	}
	last := t.Status.History[len(t.Status.History)-1]
	return last.Activity + " " + age(last.Time.Time, now)
}

// age is kubectl's age of a time, e.g. "3m", "<unknown>" for none.
func age(t, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t))
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

func timeOrNone(t *metav1.Time) string {
	if t == nil {
		return "<none>"
	}
	return t.UTC().Format(time.RFC3339)
}

// outputFormats are what describe's and check's -o take: their report as
// text (default), JSON or YAML.
var outputFormats = []string{"", "json", "yaml"}

// tenantsOutputFormats are what tenants' -o takes besides jsonpath=: the
// table (default), the wide table, the objects as JSON or YAML, or their
// names, through cli-runtime's printers.
var tenantsOutputFormats = []string{"", "wide", "json", "yaml", "name"}

// jsonPathPrefix starts -o jsonpath=TEMPLATE.
const jsonPathPrefix = "jsonpath="

// tenantsOutputHelp names every -o tenants takes.
const tenantsOutputHelp = "wide, json, yaml, name or jsonpath=TEMPLATE"

// addOutputFlag adds kubectl's -o; formats says what the command takes,
// e.g. "json or yaml (default: a report)".
func addOutputFlag(cmd *cobra.Command, output *string, formats string) {
	cmd.Flags().StringVarP(output, "output", "o", "", "output format: "+formats)
}

// printObject prints obj as -o json|yaml|name|jsonpath=... asks, else
// table (wide or not), through cli-runtime's printers, as kubectl does.
func printObject(e *env, obj runtime.Object, table *metav1.Table, output string) error {
	if output == "" || output == "wide" {
		return tablePrinter(output == "wide").PrintObj(table, e.Streams.Out)
	}
	p, err := objectPrinter(output)
	if err != nil {
		return usagef("-o %s: %v", output, err)
	}
	if output != "name" || !apimeta.IsListType(obj) {
		return p.PrintObj(obj, e.Streams.Out)
	}
	// The name printer takes no typed list: print each item, as kubectl's
	// flattened lists are printed.
	items, err := apimeta.ExtractList(obj)
	if err != nil {
		return err
	}
	for _, item := range items {
		if err := p.PrintObj(item, e.Streams.Out); err != nil {
			return err
		}
	}
	return nil
}
