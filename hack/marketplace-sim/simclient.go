package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// purchaseFlags describe the order a callback announces, for registering it
// on a running serve so that kooper's Query Order resolves it.
type purchaseFlags struct {
	simURL       string
	productID    string
	sku          string
	chargingMode string
	period       string
	periods      int
	linearValue  int
	buyerName    string
	buyerEmail   string
}

// bind registers the flags.
func (f *purchaseFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&f.simURL, "sim-url", "", "base URL of a running serve (e.g. http://127.0.0.1:9099); the order is registered there first, so Query Order from kooper resolves it")
	fs.StringVar(&f.productID, "product-id", mockProductID, "productId of the order (with --sim-url); must be the SaaSProduct's spec.productId")
	fs.StringVar(&f.sku, "sku", mockSKU, "skuCode of the order (with --sim-url); must be one of the product's plans")
	fs.StringVar(&f.chargingMode, "charging-mode", koogallery.ChargingPeriod, "chargingMode: PERIOD, ONE_TIME, ON_DEMAND or ON_DEMAND_PKG")
	fs.StringVar(&f.period, "period", "year", "periodType of PERIOD and ON_DEMAND_PKG orders: year, month or day")
	fs.IntVar(&f.periods, "periods", 1, "periodNumber: how many periods were bought")
	fs.IntVar(&f.linearValue, "linear-value", 1, "linearValue: quantity of the linear attribute, e.g. users")
	fs.StringVar(&f.buyerName, "buyer-name", "sim_buyer", "customerName of the buyer")
	fs.StringVar(&f.buyerEmail, "buyer-email", "buyer@example.com", "e-mail of the buyer")
}

// validate checks the enumerations, so a typo fails before anything is sent.
func (f *purchaseFlags) validate() error {
	switch {
	case !slices.Contains(chargingModes, f.chargingMode):
		return usagef("--charging-mode must be one of %s", strings.Join(chargingModes, ", "))
	case !slices.Contains(periodTypes, f.period):
		return usagef("--period must be one of %s", strings.Join(periodTypes, ", "))
	case f.periods < 1:
		return usagef("--periods must be at least 1")
	case f.linearValue < 0:
		return usagef("--linear-value must not be negative")
	}
	return nil
}

// registration is the order to register for orderID/lineID of orderType;
// expireTime overrides the period's end when set.
func (f *purchaseFlags) registration(orderID, lineID, orderType, expireTime string) orderRegistration {
	reg := orderRegistration{
		OrderID: orderID, OrderLineID: lineID, OrderType: orderType,
		ProductID: f.productID, SKUCode: f.sku, ProductName: "marketplace-sim " + f.sku, LinearValue: f.linearValue,
		ChargingMode: f.chargingMode, ExpireTime: expireTime,
		Buyer: buyer{CustomerID: "sim-" + f.buyerName, CustomerName: f.buyerName, Email: f.buyerEmail},
	}
	// One-time and pay-per-use orders have no period (§6.3).
	if f.chargingMode == koogallery.ChargingPeriod || f.chargingMode == koogallery.ChargingOnDemandPackage {
		reg.PeriodType, reg.PeriodNumber = f.period, f.periods
	}
	return reg
}

// simClient talks to a running serve.
type simClient struct {
	base   string
	client *http.Client
}

// newSimClient checks the base URL.
func newSimClient(base string) (*simClient, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("--sim-url must be the simulator's base URL, e.g. http://127.0.0.1:9099")
	}
	return &simClient{base: strings.TrimSuffix(base, "/"), client: &http.Client{Timeout: 10 * time.Second}}, nil
}

// register stores reg on the simulator.
func (s *simClient) register(ctx context.Context, reg orderRegistration) error {
	body, err := json.Marshal(reg)
	if err != nil {
		return fmt.Errorf("failed to encode order %s: %w", reg.OrderID, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+simOrdersPath, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("failed to build the registration of order %s: %w", reg.OrderID, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("failed to register order %s on the simulator: %w", reg.OrderID, err)
	}
	defer func() { _ = resp.Body.Close() }()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("the simulator refused order %s: HTTP %d: %s", reg.OrderID, resp.StatusCode, printable(answer))
	}
	return nil
}
