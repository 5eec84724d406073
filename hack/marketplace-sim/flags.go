package main

import (
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"strings"
	"sync"
	"time"
)

// defaultCallbackTimeout is how long a callback may take by default: above
// the 5 s the licence guide allows, so a slow receiver is reported as slow
// rather than as a timeout (the conformance run flags slowness itself).
const defaultCallbackTimeout = 10 * time.Second

// callbackFlags are the flags of every callback subcommand.
type callbackFlags struct {
	url     string
	key     string
	debug   bool
	timeout time.Duration
	// showCredentials prints each appInfo's userName and password
	// (encrypted and decrypted) and a licence key in its memo; without it
	// the simulator says only that they decrypt.
	showCredentials bool
}

// bind registers the flags. Neither URL nor key gets its environment value
// as the flag default: PrintDefaults would print the key.
func (f *callbackFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "url", "", "production URL of the receiver, e.g. http://127.0.0.1:8082/koogallery/crm (default $"+envURL+")")
	fs.StringVar(&f.key, "key", "", "basic-interface key: signs callbacks, checks Body-Sign, decrypts appInfo; never printed (default $"+envKey+"; prefer the variable, flags show in ps)")
	fs.BoolVar(&f.debug, "debug", false, "send as a Seller Console debug request (testFlag \"1\"); without it testFlag is left out, as in production")
	fs.DurationVar(&f.timeout, "timeout", defaultCallbackTimeout, "how long to wait for each answer")
	fs.BoolVar(&f.showCredentials, "show-credentials", false, "print each appInfo's userName and password (encrypted in the answer, then decrypted) and a License product's licence key (appInfo.memo); without it the answer shows neither and says only that they decrypt, so that no tenant's password or licence key lands in a terminal's scrollback or a CI log")
}

// marketplace fills the flags from the environment and returns the sender.
func (f *callbackFlags) marketplace(c *cli) (*marketplace, error) {
	if f.url == "" {
		f.url = c.getenv(envURL)
	}
	if f.key == "" {
		f.key = c.getenv(envKey)
	}
	if f.url == "" {
		return nil, usagef("--url (or $%s) is required: the receiver's production URL", envURL)
	}
	if f.key == "" {
		return nil, usagef("--key (or $%s) is required: the basic-interface key of the product", envKey)
	}
	m, err := newMarketplace(f.url, f.key, f.timeout, c.now)
	if err != nil {
		return nil, err
	}
	m.showCredentials = f.showCredentials
	return m, nil
}

// kitMarketplace is the marketplace for kit calls, which are signed with
// the kit key (--kit-key): the basic-interface key is not needed.
func (f *callbackFlags) kitMarketplace(c *cli) (*marketplace, error) {
	if f.url == "" {
		f.url = c.getenv(envURL)
	}
	if f.url == "" {
		return nil, usagef("--url (or $%s) is required: the receiver's production URL", envURL)
	}
	return newMarketplace(f.url, "", f.timeout, c.now)
}

// orderFlags name the order a callback is about.
type orderFlags struct {
	orderID, orderLineID string
}

// bind registers --order-id and --order-line-id; what says which order
// they are ("the purchase", "the renewal order", ...).
func (f *orderFlags) bind(fs *flag.FlagSet, what string) {
	fs.StringVar(&f.orderID, "order-id", "", "ID of "+what+" (default: a fresh unique ID such as SIM17637...)")
	fs.StringVar(&f.orderLineID, "order-line-id", "", "its order line ID (default: <order-id>-000001, as the marketplace numbers lines)")
}

// resolve fills in defaults: a fresh order ID and its first line.
func (f *orderFlags) resolve(ids *idGenerator) {
	if f.orderID == "" {
		f.orderID = ids.orderID()
	}
	if f.orderLineID == "" {
		f.orderLineID = firstLine(f.orderID)
	}
}

// firstLine is the ID of an order's first line (§1.9).
func firstLine(orderID string) string {
	return orderID + "-000001"
}

// requireInstance checks the --instance-id flag.
func requireInstance(id string) error {
	if strings.TrimSpace(id) == "" {
		return usagef("--instance-id is required: the instanceId the receiver answered newInstance with")
	}
	return nil
}

// idGenerator makes IDs that are unique across runs, so a run can be
// repeated against the same deployment without hitting earlier orders.
type idGenerator struct {
	mu  sync.Mutex
	n   int
	now func() time.Time
}

// newIDGenerator returns a generator on the given clock.
func newIDGenerator(now func() time.Time) *idGenerator {
	return &idGenerator{now: now}
}

// orderID returns SIM<unix seconds><counter><random>: readable, sortable by
// time, and unique even for two runs started in the same second.
func (g *idGenerator) orderID() string {
	g.mu.Lock()
	g.n++
	n := g.n
	g.mu.Unlock()
	return fmt.Sprintf("SIM%d%03d%s", g.now().Unix(), n%1000, strings.ToUpper(randomHex(2)))
}

// businessID returns a UUID-shaped ID, like the docs' businessId; the
// marketplace sends a new one on every request, retries included.
func (g *idGenerator) businessID() string {
	h := randomHex(16)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// eventID returns a getLicenseAsync eventId.
func (g *idGenerator) eventID() string {
	return "EV" + randomHex(15)
}

// randomHex returns n random bytes as lower-case hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
