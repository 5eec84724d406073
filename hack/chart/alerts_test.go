package chart

import (
	"bufio"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// promtool returns the promtool hack/build-tools.sh builds (PROMETHEUS_VERSION of
// hack/versions.env), skipping the test when it has not been built.
func promtool(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	f, err := os.Open(filepath.Join(root, "hack", "versions.env"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	version := ""
	for s := bufio.NewScanner(f); s.Scan(); {
		if v, ok := strings.CutPrefix(s.Text(), "PROMETHEUS_VERSION="); ok {
			version = v
		}
	}
	if version == "" {
		t.Fatal("hack/versions.env sets no PROMETHEUS_VERSION")
	}
	bin := filepath.Join(root, "bin", "promtool-"+version, "promtool")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("promtool %s not found at %s (build it with hack/build-tools.sh promtool): %v", version, bin, err)
	}
	return bin
}

// exportedSeries lists the series names kooper's code registers: the Name of every
// prometheus.{Counter,Gauge,Histogram,Summary}Opts literal and the first argument of every
// prometheus.NewDesc in the operator's packages (tests and hack/ left out), with a
// histogram's _bucket, _sum and _count and a summary's _sum and _count.
func exportedSeries(t *testing.T) map[string]bool {
	t.Helper()
	root := repoRoot(t)
	names := map[string]bool{}
	fset := token.NewFileSet()
	for _, dir := range []string{"controllers", "webhook", "internal", "api"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			file, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			ast.Inspect(file, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CompositeLit:
					sel, ok := n.Type.(*ast.SelectorExpr)
					if !ok || !isIdent(sel.X, "prometheus") || !strings.HasSuffix(sel.Sel.Name, "Opts") {
						return true
					}
					for _, e := range n.Elts {
						if kv, ok := e.(*ast.KeyValueExpr); ok && isIdent(kv.Key, "Name") {
							addSeries(names, stringLit(kv.Value), sel.Sel.Name)
						}
					}
				case *ast.CallExpr:
					if sel, ok := n.Fun.(*ast.SelectorExpr); ok && isIdent(sel.X, "prometheus") && sel.Sel.Name == "NewDesc" && len(n.Args) > 0 {
						addSeries(names, stringLit(n.Args[0]), "GaugeOpts")
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	delete(names, "")
	if !names["kooper_callbacks_total"] || !names["kooper_tenants"] || !names["kooper_tenant_time_to_ready_seconds_bucket"] {
		t.Fatalf("the scan of the code found too few metrics, the scanner is broken: %v", names)
	}
	return names
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

func stringLit(e ast.Expr) string {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return ""
	}
	s, err := strconv.Unquote(lit.Value)
	if err != nil {
		return ""
	}
	return s
}

func addSeries(names map[string]bool, name, opts string) {
	switch opts {
	case "HistogramOpts":
		names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
	case "SummaryOpts":
		names[name], names[name+"_sum"], names[name+"_count"] = true, true, true
	default:
		names[name] = true
	}
}

// kooperName finds kooper's metric names in PromQL. Every other identifier a query
// uses is a function, a label or a keyword; the queries use no other metric.
var kooperName = regexp.MustCompile(`\bkooper_[a-z0-9_]+\b`)

// checkMetricNames fails for a query that names no kooper metric or one kooper does
// not export.
func checkMetricNames(t *testing.T, what, query string, exported map[string]bool) {
	t.Helper()
	used := kooperName.FindAllString(query, -1)
	if len(used) == 0 {
		t.Errorf("%s uses no kooper metric: %s", what, query)
	}
	for _, name := range used {
		if !exported[name] {
			t.Errorf("%s uses %s, which kooper does not export: %s", what, name, query)
		}
	}
}

// runbookAnchors are the anchors GitHub gives the headings of docs/operations/alerts.md.
func runbookAnchors(t *testing.T) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "operations", "alerts.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	for _, line := range strings.Split(string(data), "\n") {
		if heading, ok := strings.CutPrefix(line, "## "); ok {
			anchors[strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(heading), ""), " ", "-")] = true
		}
	}
	return anchors
}

// TestAlertRules renders the chart's PrometheusRule and runs promtool over it: the rules
// check, then the unit tests of testdata/alerts_test.yaml, in which every alert has a
// case that fires and one that does not. Each alert names kooper's metrics only, carries
// a severity, a summary, a description and a runbook_url whose anchor is a section of
// docs/operations/alerts.md.
func TestAlertRules(t *testing.T) {
	out, err := runHelm(t, "template", "kooper", "charts/kooper", "--namespace", "kooper-system",
		"--set", "prometheusRule.enabled=true", "--show-only", "templates/prometheusrule.yaml")
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	rule := only(t, parseDocs(t, out), "PrometheusRule")
	spec, err := yaml.Marshal(rule["spec"])
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), spec, 0o600); err != nil {
		t.Fatal(err)
	}
	cases, err := os.ReadFile(filepath.Join(repoRoot(t), "hack", "chart", "testdata", "alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts_test.yaml"), cases, 0o600); err != nil {
		t.Fatal(err)
	}
	// Only this part needs promtool: the checks below run without it.
	t.Run("promtool", func(t *testing.T) {
		bin := promtool(t)
		for _, args := range [][]string{{"check", "rules", "rules.yaml"}, {"test", "rules", "alerts_test.yaml"}} {
			cmd := exec.Command(bin, args...)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	})

	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `json:"alert"`
				Expr        string            `json:"expr"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.Unmarshal(spec, &rules); err != nil {
		t.Fatal(err)
	}
	exported, anchors := exportedSeries(t), runbookAnchors(t)
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			checkMetricNames(t, "alert "+r.Alert, r.Expr, exported)
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("alert %s: severity %q, want critical or warning", r.Alert, s)
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[a] == "" {
					t.Errorf("alert %s has no %s", r.Alert, a)
				}
			}
			_, anchor, _ := strings.Cut(r.Annotations["runbook_url"], "#")
			if anchor != strings.ToLower(r.Alert) || !anchors[anchor] {
				t.Errorf("alert %s: runbook_url %s, want #%s, a section of docs/operations/alerts.md", r.Alert, r.Annotations["runbook_url"], strings.ToLower(r.Alert))
			}
		}
	}
	if len(alerts) < 6 {
		t.Fatalf("%d alerts rendered, want the 6 of docs/operations/alerts.md", len(alerts))
	}

	var tests struct {
		Tests []struct {
			InputSeries []struct {
				Series string `json:"series"`
			} `json:"input_series"`
			AlertRuleTest []struct {
				Alertname string `json:"alertname"`
				ExpAlerts []any  `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal(cases, &tests); err != nil {
		t.Fatal(err)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, s := range tc.InputSeries {
			checkMetricNames(t, "test series", s.Series, exported)
		}
		for _, a := range tc.AlertRuleTest {
			if !alerts[a.Alertname] {
				t.Errorf("testdata/alerts_test.yaml tests %s, which the chart does not render", a.Alertname)
			}
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	for a := range alerts {
		if !fires[a] || !quiet[a] {
			t.Errorf("alert %s: a case that fires %v, one that does not %v; want both", a, fires[a], quiet[a])
		}
	}
}

// TestGrafanaDashboard renders the dashboard's ConfigMap: labelled for the Grafana sidecar,
// in the namespace asked for, holding JSON whose every query names metrics kooper exports.
func TestGrafanaDashboard(t *testing.T) {
	out, err := runHelm(t, "template", "kooper", "charts/kooper", "--namespace", "kooper-system",
		"--set", "grafanaDashboard.enabled=true", "--set", "grafanaDashboard.namespace=monitoring",
		"--show-only", "templates/grafana-dashboard.yaml")
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	cm := only(t, parseDocs(t, out), "ConfigMap")
	if got := get(t, cm, "metadata", "labels", "grafana_dashboard"); got != "1" {
		t.Errorf("label grafana_dashboard = %v, want \"1\"", got)
	}
	if got := get(t, cm, "metadata", "namespace"); got != "monitoring" {
		t.Errorf("namespace %v, want monitoring", got)
	}
	raw, _ := get(t, cm, "data", "kooper.json").(string)
	var dashboard struct {
		UID    string           `json:"uid"`
		Title  string           `json:"title"`
		Panels []map[string]any `json:"panels"`
	}
	if err := json.Unmarshal([]byte(raw), &dashboard); err != nil {
		t.Fatalf("kooper.json does not parse: %v", err)
	}
	if dashboard.UID == "" || dashboard.Title == "" {
		t.Errorf("dashboard uid %q, title %q: want both", dashboard.UID, dashboard.Title)
	}
	exported := exportedSeries(t)
	queries := 0
	var walk func(panels []map[string]any)
	walk = func(panels []map[string]any) {
		for _, p := range panels {
			if nested, ok := p["panels"].([]any); ok {
				var inner []map[string]any
				for _, n := range nested {
					if m, ok := n.(map[string]any); ok {
						inner = append(inner, m)
					}
				}
				walk(inner)
			}
			targets, _ := p["targets"].([]any)
			for _, target := range targets {
				expr, _ := target.(map[string]any)["expr"].(string)
				checkMetricNames(t, "panel "+p["title"].(string), expr, exported)
				queries++
			}
		}
	}
	walk(dashboard.Panels)
	if queries < 10 {
		t.Errorf("%d queries in the dashboard, want its panels' (at least 10)", queries)
	}
	// A metric an alert watches is one the on-call person looks at when it fires.
	for _, name := range alertedMetrics(t) {
		if !strings.Contains(raw, name) {
			t.Errorf("an alert watches %s; the dashboard shows no panel of it", name)
		}
	}
	// Every metric kooper exports for alerts and the panels is on it.
	for _, want := range []string{"kooper_callbacks_total", "kooper_callback_duration_seconds_bucket", "kooper_tenants",
		"kooper_tenant_time_to_ready_seconds_bucket", "kooper_usage_records_pushed_total", "kooper_order_queries_total"} {
		if !strings.Contains(raw, want) {
			t.Errorf("the dashboard shows no %s", want)
		}
	}
}

// alertedMetrics are the kooper metrics the chart's alert rules name.
func alertedMetrics(t *testing.T) []string {
	t.Helper()
	out, err := runHelm(t, "template", "kooper", "charts/kooper", "--namespace", "kooper-system",
		"--set", "prometheusRule.enabled=true", "--show-only", "templates/prometheusrule.yaml")
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	spec, err := yaml.Marshal(only(t, parseDocs(t, out), "PrometheusRule")["spec"])
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Expr string `json:"expr"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.Unmarshal(spec, &rules); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			names = append(names, kooperName.FindAllString(r.Expr, -1)...)
		}
	}
	if len(names) == 0 {
		t.Fatal("no alert rule names a kooper metric")
	}
	return names
}
