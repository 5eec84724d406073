package main

import (
	"crypto/rsa"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/webhook"
)

const productKitKey = "sim-kit-key-4Lq9"

// merchantKey is the merchant's RSA key pair of every test product.
var merchantKey = sync.OnceValues(func() (*rsa.PrivateKey, error) {
	return koogallery.GenerateRSAKey(koogallery.MinRSABits)
})

func merchantKeyPEM(t *testing.T) []byte {
	t.Helper()
	key, err := merchantKey()
	if err != nil {
		t.Fatal(err)
	}
	data, err := koogallery.PrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// kitEnv is keyEnv plus the kit key and a file with the merchant's public
// key, in the Base64 form kubectl kooper kit prints.
func kitEnv(t *testing.T) map[string]string {
	t.Helper()
	key, err := merchantKey()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := koogallery.PublicKeyBase64(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "merchant-public.txt")
	if err := os.WriteFile(file, []byte(pub+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := keyEnv()
	env[envKitKey], env[envKitPublicKey] = productKitKey, file
	return env
}

// TestKitSignatureIsSpecVectorK1 pins the simulator's own kit signing to
// the spec's vector, independently of internal/koogallery.
func TestKitSignatureIsSpecVectorK1(t *testing.T) {
	g := NewWithT(t)
	body := callbackBody{
		{"instanceId", "huaiweitest123456"}, {"orderId", "CS1906666666ABCDE"}, {"tenantId", "68cbc86f5b8e4d2f9d0a880d92f36422"},
		{"tenantCode", "huawei"}, {"name", "huaiweitest"}, {"domainName", "https://example.tenantaccount.com"},
		{"flag", jsonNumber("1")}, {"testFlag", jsonNumber("0")}, {"timeStamp", "20220413093539534"},
	}
	payload, err := body.canonical()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(payload)).To(Equal(`{"domainName":"https://example.tenantaccount.com","flag":1,"instanceId":"huaiweitest123456","name":"huaiweitest","orderId":"CS1906666666ABCDE","tenantCode":"huawei","tenantId":"68cbc86f5b8e4d2f9d0a880d92f36422","testFlag":0,"timeStamp":"20220413093539534"}`))
	nonce, ts := "50D83FDECAED6CCD8EF597F2A577950527928BA287D04E6036E92B2806FD17DA", "1680508066618"
	g.Expect(hmacHex("test-kit-key", append([]byte("test-kit-key"+nonce+ts), payload...))).To(Equal("a5165ebba99cb091ea403f1947dfd70aab9edef79efeef3f05978f12673990d2"))
	g.Expect(kitTimeStamp(time.Date(2022, 4, 13, 1, 35, 39, 534e6, time.UTC))).To(Equal("20220413093539534"))
}

func TestConformanceCoversTheKitInterfaces(t *testing.T) {
	g := NewWithT(t)
	_, url := newProduct(t)
	res := runCLI(ctxFor(t), kitEnv(t), "conformance", "--url", url)
	t.Log(res.stdout)
	g.Expect(res.code).To(Equal(exitOK), res.combined())
	g.Expect(res.stdout).To(ContainSubstring("39 passed, 0 failed (2 skipped)"))
	for _, s := range (&conformance{}).kitScenarios() {
		result, detail := row(t, res.stdout, s.name)
		g.Expect(result).To(Equal(resultPass), "%s: %s", s.name, detail)
	}
	g.Expect(res.combined()).NotTo(ContainSubstring(productKitKey))
}

func TestKitCommandSendsEachInterface(t *testing.T) {
	g := NewWithT(t)
	_, url := newProduct(t)
	env := kitEnv(t)
	env[envURL] = url
	instanceID := "i-sim-kit-cmd"
	for _, args := range [][]string{
		{"--interface", "tenantSync"},
		{"--interface", "applicationSync", "--kit-oaep", "sha1"},
		{"--interface", "allOrgSync", "--departments", "4", "--org-list-as-string"},
		{"--interface", "singleOrgSync", "--flag", "0"},
		{"--interface", "authSync", "--users", "500"},
		{"--interface", "authSync", "--users", "20", "--flag", "3"},
	} {
		res := runCLI(ctxFor(t), env, append([]string{"kit", "--instance-id", instanceID}, args...)...)
		g.Expect(res.code).To(Equal(exitOK), res.combined())
		g.Expect(res.stdout).To(ContainSubstring(`"resultCode":"000000"`))
	}
	d := &saasv1alpha1.SaaSDirectory{}
	g.Expect(k8sClient.Get(ctxFor(t), client.ObjectKey{Name: webhook.DirectoryName(instanceID, "sim-tenant")}, d)).To(Succeed())
	g.Expect(d.Spec.Applications).To(HaveLen(1))
	g.Expect(d.Spec.Applications[0].OAEPHash).To(Equal(string(koogallery.OAEPSHA1)))

	// Kit calls are signed with the kit key: the basic-interface key is
	// not needed.
	withoutKey := map[string]string{}
	for k, v := range env {
		if k != envKey {
			withoutKey[k] = v
		}
	}
	res := runCLI(ctxFor(t), withoutKey, "kit", "--instance-id", instanceID, "--interface", "tenantSync")
	g.Expect(res.code).To(Equal(exitOK), res.combined())

	res = runCLI(ctxFor(t), env, "kit", "--interface", "userSync", "--instance-id", instanceID)
	g.Expect(res.code).To(Equal(exitUsage))
	g.Expect(strings.Contains(res.combined(), productKitKey)).To(BeFalse())
}
