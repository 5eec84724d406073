package localstack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// CreateLightProduct creates the SaaSProduct name, a copy of the sample
// product with productId productID and nothing a tenant must wait for on
// kwok (no volume, no configuration files, no PVC quota), changed further
// by edit if it is not nil; it waits until the controllers have read its
// keys. The benchmark and the chaos suite buy from such products.
func (s *Stack) CreateLightProduct(ctx context.Context, name, productID string, edit func(*saasv1alpha1.SaaSProductSpec)) error {
	sample := &saasv1alpha1.SaaSProduct{}
	if err := s.Client.Get(ctx, client.ObjectKey{Name: Product}, sample); err != nil {
		return err
	}
	p := &saasv1alpha1.SaaSProduct{}
	p.Name, p.Spec = name, *sample.Spec.DeepCopy()
	p.Spec.ProductID = productID
	p.Spec.Workload.Storage, p.Spec.Workload.Config = nil, nil
	for i := range p.Spec.Plans {
		delete(p.Spec.Plans[i].Quota, "persistentvolumeclaims")
	}
	if edit != nil {
		edit(&p.Spec)
	}
	if err := s.Client.Create(ctx, p); err != nil {
		return fmt.Errorf("failed to create the SaaSProduct %s: %w", name, err)
	}
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := s.Client.Get(ctx, client.ObjectKey{Name: name}, p); err != nil {
			return false, err
		}
		return apimeta.IsStatusConditionTrue(p.Status.Conditions, saasv1alpha1.KeysAvailableCondition), nil
	})
}

// SimOrder is a purchase of one SKU, as the simulator's Query Order will
// answer it: yearly unless ChargingMode says otherwise.
type SimOrder struct {
	OrderID, ProductID, SKUCode string
	// Customer is the buyer's account ID and name.
	Customer string
	// ChargingMode is koogallery.ChargingPeriod (the default, one year),
	// koogallery.ChargingOnDemand (pay-per-use, metered; no period) or
	// koogallery.ChargingOnDemandPackage (a package of pay-per-use usage).
	ChargingMode string
	// LinearValue is the quantity the buyer chose (productInfo's
	// linearValue); 0 leaves it out.
	LinearValue int
	// ExpireTime is the order line's expiry, yyyyMMddHHmmss UTC; empty
	// leaves it to the simulator (the end of a period, none otherwise).
	ExpireTime string
}

// registration is the simulator's order registration (POST /sim/orders).
func (o SimOrder) registration() map[string]any {
	reg := map[string]any{
		"orderId": o.OrderID, "orderLineId": o.OrderID + "-000001", "productId": o.ProductID, "skuCode": o.SKUCode,
		"chargingMode": koogallery.ChargingPeriod, "periodType": "year", "periodNumber": 1,
		"buyer": map[string]string{"customerId": o.Customer, "customerName": o.Customer},
	}
	if o.ChargingMode != "" && o.ChargingMode != koogallery.ChargingPeriod {
		reg["chargingMode"] = o.ChargingMode
		delete(reg, "periodType")
		delete(reg, "periodNumber")
	}
	if o.LinearValue > 0 {
		reg["linearValue"] = o.LinearValue
	}
	if o.ExpireTime != "" {
		reg["expireTime"] = o.ExpireTime
	}
	return reg
}

// RegisterOrder tells the simulator about a purchase (POST /sim/orders), so
// that the controllers' Query Order resolves it, as new-instance --sim-url
// does. Registering an order again replaces it alike: a retry is harmless.
func (s *Stack) RegisterOrder(ctx context.Context, c *http.Client, o SimOrder) error {
	reg, err := json.Marshal(o.registration())
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.SimURL+"/sim/orders", bytes.NewReader(reg))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("the simulator refused order %s: HTTP %d", o.OrderID, resp.StatusCode)
	}
	return nil
}
