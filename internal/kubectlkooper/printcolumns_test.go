package kubectlkooper

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// getTable gets one object as `kubectl get` does: as a Table of its CRD's
// printer columns, which the API server fills in.
func getTable(t *testing.T, resource, name string) *metav1.Table {
	t.Helper()
	g := NewWithT(t)
	httpClient, err := rest.HTTPClientFor(testEnv.Config)
	g.Expect(err).NotTo(HaveOccurred())
	url := fmt.Sprintf("%s/apis/%s/%s/%s", strings.TrimSuffix(testEnv.Config.Host, "/"), saasv1alpha1.GroupVersion, resource, name)
	req, err := http.NewRequestWithContext(ctxFor(t), http.MethodGet, url, nil)
	g.Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := httpClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK), url+": "+string(body))
	table := &metav1.Table{}
	g.Expect(json.Unmarshal(body, table)).To(Succeed())
	g.Expect(table.Rows).To(HaveLen(1))
	return table
}

// defaultCells are the cells `kubectl get` shows without -o wide, by
// column name.
func defaultCells(table *metav1.Table) map[string]any {
	cells := map[string]any{}
	for i, c := range table.ColumnDefinitions {
		if c.Priority == 0 {
			cells[c.Name] = table.Rows[0].Cells[i]
		}
	}
	return cells
}

// `kubectl get saastenants` shows, by default, why a tenant is frozen:
// State (spec.state) says Active for a tenant kooper froze on its own.
func TestSaaSTenantColumnsShowFreeze(t *testing.T) {
	g := NewWithT(t)
	now := time.Now()
	expired := newTenant(t, "columns", saasv1alpha1.StateActive, frozenStatus(saasv1alpha1.FrozenByExpiryReason, now))
	serving := newTenant(t, "columns", saasv1alpha1.StateActive, readyStatus("tenant-columns", now))

	cells := defaultCells(getTable(t, "saastenants", expired.Name))
	g.Expect(cells).To(And(HaveKeyWithValue("State", "Active"), HaveKeyWithValue("Frozen", saasv1alpha1.FrozenByExpiryReason)))

	cells = defaultCells(getTable(t, "saastenants", serving.Name))
	g.Expect(cells).To(HaveKeyWithValue("Frozen", BeNil()), "not frozen: an empty cell")
}

// `kubectl get licenses` shows, by default, that a licence's key is
// frozen: an application's spec.state stays Active when its instance is
// frozen, and only its Frozen condition says the key is revoked.
func TestLicenseColumnsShowFreeze(t *testing.T) {
	g := NewWithT(t)
	ctx := ctxFor(t)
	n := seq.Add(1)
	licence := &saasv1alpha1.License{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("l-test%014d", n)},
		Spec: saasv1alpha1.LicenseSpec{InstanceID: fmt.Sprintf("i-test%012d", n), ProductName: "columns",
			EventID: fmt.Sprintf("EVENT%d", n), DeviceFingerprint: "device-1", State: saasv1alpha1.StateActive},
	}
	g.Expect(k8sClient.Create(ctx, licence)).To(Succeed())
	message := "Frozen: the licence key is revoked until the instance is unfrozen"
	licence.Status.Conditions = []metav1.Condition{
		{Type: saasv1alpha1.ReadyCondition, Status: metav1.ConditionFalse, Reason: saasv1alpha1.RevokedReason, Message: message, LastTransitionTime: metav1.Now()},
		{Type: saasv1alpha1.FrozenCondition, Status: metav1.ConditionTrue, Reason: saasv1alpha1.RevokedReason, Message: message, LastTransitionTime: metav1.Now()},
	}
	g.Expect(k8sClient.Status().Update(ctx, licence)).To(Succeed())

	cells := defaultCells(getTable(t, "licenses", licence.Name))
	g.Expect(cells).To(And(HaveKeyWithValue("State", "Active"), HaveKeyWithValue("Frozen", "True")))
}
