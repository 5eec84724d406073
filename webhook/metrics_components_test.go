package webhook

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"testing"

	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// importedOnlyEnv makes this test binary print, from its init and then
// exit, what its metrics endpoint would serve: as a process that imports
// the webhook package and never runs its Setup, as the controllers' pods do
// (main.go imports the package in every process), or, with the value
// withReceiverSeries, once it has created what Setup creates. A test
// cannot see either in its own process, since TestMain has run Setup, and
// the receiver has counted callbacks, before any test.
const importedOnlyEnv = "KOOPER_TEST_METRICS_OF_IMPORT_ONLY"

// Values of importedOnlyEnv.
const (
	importedOnly       = "imported-only"
	withReceiverSeries = "with-receiver-series"
)

func init() {
	mode := os.Getenv(importedOnlyEnv)
	if mode == "" {
		return
	}
	if mode == withReceiverSeries {
		createReceiverSeries()
	}
	families, err := metrics.Registry.Gather()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, family := range families {
		if _, err := expfmt.MetricFamilyToText(os.Stdout, family); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	os.Exit(0)
}

// receiverOnlyFamilies are the receiver's labelled metrics, which have
// series only once the receiver creates them: none may be served by a
// process that does not run it.
var receiverOnlyFamilies = []string{"kooper_callbacks_total", "kooper_callback_timestamp_rejected_total",
	"kooper_receiver_unauthenticated_reads_total", "kooper_query_instances_left_out_total", "kooper_callback_duration_seconds"}

// TestAControllersOnlyProcessExportsNoCallbackSeries: the webhook package's
// init created the receiver's series at 0 in every process that imports it,
// the controllers' pods included. They are scraped under the receiver's
// namespace label, so absent(kooper_callbacks_total) in KooperMetricsAbsent
// stayed false with every receiver down or unscraped, and no alert fired
// while purchases failed. The receiver's series exist from its Setup, and
// only where it runs.
func TestAControllersOnlyProcessExportsNoCallbackSeries(t *testing.T) {
	g := NewWithT(t)
	served := metricsOfAnotherProcess(t, importedOnly)
	g.Expect(served).To(HaveKey("go_goroutines"), "the process's metrics were gathered")
	var receivers []string
	for _, name := range receiverOnlyFamilies {
		if _, found := served[name]; found {
			receivers = append(receivers, name)
		}
	}
	g.Expect(receivers).To(BeEmpty(), "the receiver's metrics served by a process that does not run it")

	// The series the alerts and docs rely on from the receiver's start:
	// at 0 once created as Setup creates them, and there in this process,
	// which ran Setup (TestMain); here other tests may have counted them.
	withSeries := metricsOfAnotherProcess(t, withReceiverSeries)
	afterSetup, err := metrics.Registry.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	for _, want := range []struct {
		family string
		labels map[string]string
	}{
		{"kooper_callbacks_total", map[string]string{"product": "", "activity": unknownActivity, "result_code": string(koogallery.ResultInternalError)}},
		{"kooper_callback_timestamp_rejected_total", map[string]string{"direction": directionPast}},
		{"kooper_callback_timestamp_rejected_total", map[string]string{"direction": directionFuture}},
		{"kooper_receiver_unauthenticated_reads_total", map[string]string{"result": readAllowed}},
		{"kooper_receiver_unauthenticated_reads_total", map[string]string{"result": readRefused}},
	} {
		value, found := seriesValue(withSeries[want.family], want.labels)
		g.Expect(found).To(BeTrue(), "created as by Setup: %s%v", want.family, want.labels)
		g.Expect(value).To(BeZero(), "created as by Setup: %s%v", want.family, want.labels)
		_, found = seriesValue(familyNamed(afterSetup, want.family), want.labels)
		g.Expect(found).To(BeTrue(), "after Setup: %s%v", want.family, want.labels)
	}
}

// metricsOfAnotherProcess runs this test binary as importedOnlyEnv says
// with mode, and parses what it prints, by family name.
func metricsOfAnotherProcess(t *testing.T, mode string) map[string]*dto.MetricFamily {
	t.Helper()
	g := NewWithT(t)
	self, err := os.Executable()
	g.Expect(err).NotTo(HaveOccurred())
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), importedOnlyEnv+"="+mode)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	g.Expect(err).NotTo(HaveOccurred(), stderr.String())
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(out))
	g.Expect(err).NotTo(HaveOccurred())
	return families
}

// familyNamed is the family of families named name, or nil.
func familyNamed(families []*dto.MetricFamily, name string) *dto.MetricFamily {
	for _, f := range families {
		if f.GetName() == name {
			return f
		}
	}
	return nil
}

// seriesValue finds the counter of family with exactly labels; a label
// the series lacks reads as "", as in PromQL.
func seriesValue(family *dto.MetricFamily, labels map[string]string) (float64, bool) {
	for _, m := range family.GetMetric() {
		got := map[string]string{}
		for name := range labels {
			got[name] = ""
		}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if maps.Equal(got, labels) {
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}
