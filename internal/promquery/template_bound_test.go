package promquery

import (
	"strings"
	"testing"
	"time"
)

// TestAMeterQueryTemplateWithARangeIsRefused: Go's text/template ranges
// over an integer, so a meter's query of
// {{range 1000000000000000000}}{{end}} never ends, holding the product's
// check (MetersValid) and every metering pass of its tenants for good.
// Now a query template with a {{range}} does not render, before it runs.
// The ranges here are finite, so that the test ends before the fix too.
func TestAMeterQueryTemplateWithARangeIsRefused(t *testing.T) {
	data := Data{Namespace: "tenant-i-1", InstanceID: "i-1", Window: "3600s"}
	for _, text := range []string{
		`sum(x{namespace="{{.Namespace}}"}){{range 30000000}}{{end}}`,
		`sum(x{namespace="{{range 3}}{{$.Namespace}}{{end}}"})`,
		`sum(x{namespace="{{.Namespace}}"}[{{if .Window}}{{range 3}}{{end}}{{.Window}}{{end}}])`,
	} {
		start := time.Now()
		query, err := Render(text, data)
		if elapsed := time.Since(start); elapsed > 500*time.Millisecond {
			t.Errorf("Render(%q) took %v; want it refused before it runs", text, elapsed)
		}
		if err == nil || !strings.Contains(err.Error(), "{{range}} is not allowed in a meter's query template") {
			t.Errorf("Render(%q) = %.40q, %v; want {{range}} refused", text, query, err)
		}
	}
}

// TestARenderedQueryIsBounded: what a query template writes is capped,
// however it writes it.
func TestARenderedQueryIsBounded(t *testing.T) {
	// 2^9 copies of the namespace (5120 bytes, within what a value may
	// be), written 13 times: 66560 bytes.
	_, err := Render(`sum(x{namespace="{{.Namespace}}",pad="{{$a := .Namespace}}`+strings.Repeat(`{{$a = print $a $a}}`, 9)+
		strings.Repeat(`{{$a}}`, 13)+`"})`, Data{Namespace: "tenant-i-1"})
	if err == nil || !strings.Contains(err.Error(), "renders to more than 65536 bytes") {
		t.Errorf("Render = %v; want the query's length refused", err)
	}
}
