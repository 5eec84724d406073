package kubectlkooper

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/yaml"

	"github.com/kooper-io/kooper/api/licensekey"
	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/testenv"
)

// checkReportOf runs check -o json and decodes its report.
func checkReportOf(g Gomega, now func() time.Time, args ...string) (checkReport, result) {
	r := kooperWith(now, "", append([]string{"check", "-o", "json"}, args...)...)
	var report checkReport
	g.Expect(json.Unmarshal([]byte(r.out), &report)).To(Succeed(), r.output())
	return report, r
}

// failures are the checks of report that failed, by name, with why.
func failures(report checkReport) map[string]string {
	out := map[string]string{}
	for _, c := range report.Checks {
		if !c.Passed {
			out[c.Name] = c.Detail
		}
	}
	return out
}

// check passes on a healthy kooper and fails, exit 1 and saying why, on
// each precondition broken in turn.
func TestCheck(t *testing.T) {
	g := NewWithT(t)
	ctx := ctxFor(t)
	product := newProduct(t, "check")

	// Without -n and without kooper's Deployment: kooper-system, where
	// nothing is.
	report, r := checkReportOf(g, time.Now, "--receiver-url", receiverURL)
	g.Expect(r.code).To(Equal(ExitFailed))
	g.Expect(report.Namespace).To(Equal(defaultNamespace))

	healthyKooper(t)
	withReceiver := []string{"--receiver-url", receiverURL}
	report, r = checkReportOf(g, time.Now, withReceiver...)
	g.Expect(r.code).To(Equal(ExitOK), r.out)
	g.Expect(report.Namespace).To(Equal(kooperNamespace), "the namespace of kooper's Deployment")
	g.Expect(report.Passed).To(BeTrue())
	g.Expect(failures(report)).To(BeEmpty())
	names := make([]string, 0, len(report.Checks))
	for _, c := range report.Checks {
		names = append(names, c.Name)
	}
	g.Expect(names).To(ContainElements("crd/saastenants", "pods/receiver", "pods/controllers", "lease",
		"keys/"+product.Name, "receiver/"+product.Name, "clock", "admission-policy"))
	text := kooper(append([]string{"check"}, withReceiver...)...)
	g.Expect(text.code).To(Equal(ExitOK))
	g.Expect(text.out).To(And(MatchRegexp(`receiver/%s\s+PASS\s+a signed queryInstance answered 000003`, product.Name), ContainSubstring("checks passed.")))

	secretKey := client.ObjectKey{Namespace: kooperNamespace, Name: product.Spec.KeysSecretName}
	cases := []struct {
		name    string
		breakIt func(g Gomega)
		restore func(g Gomega)
		now     func() time.Time
		args    []string
		check   string
		reason  string
	}{{
		name: "a CRD missing", check: "crd/saasdirectories", reason: "CRD saasdirectories.saas.kooper.io is not installed",
		breakIt: func(g Gomega) { deleteCRD(ctx, g, "saasdirectories.saas.kooper.io") },
		restore: func(g Gomega) { installCRD(ctx, g, "saas.kooper.io_saasdirectories.yaml") },
	}, {
		name: "no Ready receiver Pod", check: "pods/receiver", reason: "no Ready receiver Pod in kooper-test (1 found)",
		breakIt: func(g Gomega) { setPodReady(ctx, g, componentReceiver, corev1.ConditionFalse) },
		restore: func(g Gomega) { setPodReady(ctx, g, componentReceiver, corev1.ConditionTrue) },
	}, {
		name: "the Lease expired", check: "lease", reason: "held by controllers-0 expired: last renewed 2h0m", // and the seconds the check took
		breakIt: func(g Gomega) { renewLease(ctx, g, time.Now().Add(-2*time.Hour)) },
		restore: func(g Gomega) { renewLease(ctx, g, time.Now()) },
	}, {
		name: "a key missing", check: "keys/" + product.Name, reason: "lacks accessKeyId",
		breakIt: func(g Gomega) { setKey(ctx, g, secretKey, saasv1alpha1.AccessKeyIDSecretKey, "") },
		restore: func(g Gomega) { setKey(ctx, g, secretKey, saasv1alpha1.AccessKeyIDSecretKey, "ak") },
	}, {
		name: "the receiver not answering", check: "receiver/" + product.Name, reason: "failed to reach the receiver",
		args: []string{"--receiver-url", closedURL(g)},
	}, {
		name: "the clock two minutes ahead", check: "clock", reason: "this machine's clock is 2m", // and a second or so: Date is whole seconds
		now: func() time.Time { return time.Now().Add(2 * time.Minute) },
	}, {
		name: "no admission policy binding", check: "admission-policy", reason: "has no binding with Deny: it confines nothing",
		breakIt: func(g Gomega) { g.Expect(k8sClient.Delete(ctx, policyBinding())).To(Succeed()) },
		restore: func(g Gomega) { g.Expect(k8sClient.Create(ctx, policyBinding())).To(Succeed()) },
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			if tc.breakIt != nil {
				tc.breakIt(g)
				defer tc.restore(g)
			}
			now, args := time.Now, withReceiver
			if tc.now != nil {
				now = tc.now
			}
			if tc.args != nil {
				args = tc.args
			}
			report, r := checkReportOf(g, now, args...)
			g.Expect(r.code).To(Equal(ExitFailed), r.output())
			g.Expect(report.Passed).To(BeFalse())
			g.Expect(failures(report)).To(HaveKeyWithValue(tc.check, ContainSubstring(tc.reason)))
			if tc.check == "clock" { // the receiver refuses a signature from a clock that far off, too
				g.Expect(failures(report)).To(HaveKeyWithValue("receiver/"+product.Name, ContainSubstring("answered 000002")))
			}
		})
		// Each break was the only one: restored, check passes again.
		g.Eventually(func(g Gomega) {
			report, r := checkReportOf(g, time.Now, withReceiver...)
			g.Expect(failures(report)).To(BeEmpty())
			g.Expect(r.code).To(Equal(ExitOK))
		}).Should(Succeed(), "after %s", tc.name)
	}
}

// healthyKooper makes kooper's namespace look as the chart and running
// components leave it: a Deployment, a Ready Pod of each component, the
// leader Lease (renewed now), and the admission policy with its binding.
// What an earlier test made is kept, so that a test may run alone or after
// another.
func healthyKooper(t *testing.T) {
	g := NewWithT(t)
	ctx := ctxFor(t)
	labels := func(component string) map[string]string {
		return map[string]string{partOfLabel: "kooper", componentLabel: component}
	}
	podSpec := corev1.PodSpec{Containers: []corev1.Container{{Name: "kooper", Image: "kooper:test"}}}
	create := func(obj client.Object) {
		g.Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, obj))).To(Succeed())
	}
	create(&appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: kooperNamespace, Name: "kooper-controllers", Labels: labels(componentControllers)},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels(componentControllers)},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels(componentControllers)}, Spec: podSpec}},
	})
	for _, component := range []string{componentReceiver, componentControllers} {
		create(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: kooperNamespace, Name: component + "-0", Labels: labels(component)}, Spec: podSpec})
		setPodReady(ctx, g, component, corev1.ConditionTrue)
	}
	create(&coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: kooperNamespace, Name: saasv1alpha1.LeaderElectionLeaseName},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("controllers-0"), LeaseDurationSeconds: ptr.To[int32](3600),
			RenewTime: &metav1.MicroTime{Time: time.Now()}},
	})
	renewLease(ctx, g, time.Now())
	create(&admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "kooper-controllers", Labels: map[string]string{partOfLabel: "kooper"}},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule: admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}}},
			}}},
			MatchConditions: []admissionregistrationv1.MatchCondition{{Name: "controllers-service-account",
				Expression: "request.userInfo.username == 'system:serviceaccount:" + kooperNamespace + ":kooper-controllers'"}},
			Validations: []admissionregistrationv1.Validation{{Expression: "true"}},
		},
	})
	create(policyBinding())
}

func policyBinding() *admissionregistrationv1.ValidatingAdmissionPolicyBinding {
	return &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "kooper-controllers"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "kooper-controllers",
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}},
	}
}

// setPodReady sets the component's Pod Running, with Ready as given.
func setPodReady(ctx context.Context, g Gomega, component string, ready corev1.ConditionStatus) {
	pod := &corev1.Pod{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: kooperNamespace, Name: component + "-0"}, pod)).To(Succeed())
	pod.Status.Phase = corev1.PodRunning
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: ready}}
	g.Expect(k8sClient.Status().Update(ctx, pod)).To(Succeed())
}

func renewLease(ctx context.Context, g Gomega, at time.Time) {
	lease := &coordinationv1.Lease{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: kooperNamespace, Name: saasv1alpha1.LeaderElectionLeaseName}, lease)).To(Succeed())
	lease.Spec.RenewTime = &metav1.MicroTime{Time: at}
	g.Expect(k8sClient.Update(ctx, lease)).To(Succeed())
}

// setKey sets one key of a Secret; empty removes it.
func setKey(ctx context.Context, g Gomega, key client.ObjectKey, name, value string) {
	secret := &corev1.Secret{}
	g.Expect(k8sClient.Get(ctx, key, secret)).To(Succeed())
	if value == "" {
		delete(secret.Data, name)
	} else {
		secret.Data[name] = []byte(value)
	}
	g.Expect(k8sClient.Update(ctx, secret)).To(Succeed())
}

// closedURL is an http URL where nothing listens.
func closedURL(g Gomega) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	addr := l.Addr().String()
	g.Expect(l.Close()).To(Succeed())
	return "http://" + addr
}

// deleteCRD deletes a CRD and waits until it is gone.
func deleteCRD(ctx context.Context, g Gomega, name string) {
	crd := &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: name}}
	g.Expect(k8sClient.Delete(ctx, crd)).To(Succeed())
	// The API server's finalizer removes the kind's objects first, which
	// took over 30 s once under a full make test on two cores.
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(crd), crd))
	}).WithTimeout(2 * time.Minute).Should(BeTrue())
}

// installCRD installs a CRD from config/crd/bases and waits until it is
// Established.
func installCRD(ctx context.Context, g Gomega, file string) {
	root, err := testenv.RepoRoot()
	g.Expect(err).NotTo(HaveOccurred())
	data, err := os.ReadFile(filepath.Join(root, "config", "crd", "bases", file))
	g.Expect(err).NotTo(HaveOccurred())
	crd := &apiextensionsv1.CustomResourceDefinition{}
	g.Expect(yaml.Unmarshal(data, crd)).To(Succeed())
	g.Expect(k8sClient.Create(ctx, crd)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(checkCRD(ctx, k8sClient, "crd", crd.Name).Passed).To(BeTrue())
	}).Should(Succeed())
}

// Where Pods cannot be port-forwarded to (here envtest, as kwok on the
// local/demo stack: no kubelet), check and buy say to pass --receiver-url;
// check takes a production URL there as well as the base URL.
func TestPortForwardFailureSuggestsReceiverURL(t *testing.T) {
	g := NewWithT(t)
	ctx := ctxFor(t)
	product := newProduct(t, "pf")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "kooper-pf-"}}
	g.Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	labels := map[string]string{partOfLabel: "kooper", componentLabel: componentReceiver}
	g.Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: product.Spec.KeysSecretName},
		StringData: map[string]string{saasv1alpha1.BasicKeySecretKey: basicKey, saasv1alpha1.AccessKeyIDSecretKey: "ak",
			saasv1alpha1.SecretAccessKeySecretKey: "sk"}})).To(Succeed())
	g.Expect(k8sClient.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "kooper", Labels: labels},
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Name: receiverPortName, Port: 80, TargetPort: intstr.FromInt32(8082)}}}})).To(Succeed())
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "receiver-0", Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "kooper", Image: "kooper:test"}}}}
	g.Expect(k8sClient.Create(ctx, pod)).To(Succeed())
	pod.Status.Phase = corev1.PodRunning
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	g.Expect(k8sClient.Status().Update(ctx, pod)).To(Succeed())

	report, _ := checkReportOf(g, time.Now, "-n", ns.Name)
	g.Expect(failures(report)).To(HaveKeyWithValue("receiver", And(ContainSubstring("failed to port-forward to Pod "+ns.Name+"/receiver-0"),
		ContainSubstring("pass --receiver-url with the receiver's address"))))
	r := kooperWith(time.Now, "", "-n", ns.Name, "buy", "--product", product.Name)
	g.Expect(r.code).To(Equal(ExitFailed))
	g.Expect(r.errOut).To(ContainSubstring("pass --receiver-url with the receiver's address"))

	for _, url := range []string{receiverURL, receiverURL + "/koogallery/" + product.Name} {
		report, _ = checkReportOf(g, time.Now, "-n", ns.Name, "--receiver-url", url)
		i := slices.IndexFunc(report.Checks, func(c checkResult) bool { return c.Name == "receiver/"+product.Name })
		g.Expect(i).NotTo(Equal(-1), url)
		g.Expect(report.Checks[i].Passed).To(BeTrue(), "%s: %s", url, report.Checks[i].Detail)
	}
	r = kooperWith(time.Now, "", "-n", ns.Name, "check", "--receiver-url", "crm.example.com")
	g.Expect(r.code).To(Equal(ExitUsage), r.output())
	g.Expect(r.errOut).To(ContainSubstring("give the receiver's base URL (https://crm.example.com) or a production URL"))
}

// check keys/<product> judges a keys Secret as the parts that use it do: a
// joint-operation product's kit calls are answered 000005 without kitKey,
// and applicationSync without a usable rsaPrivateKey; a License product's
// licences stall, and its revocation list answers 503, without a
// licenseSigningKey that is a PEM Ed25519 private key. Only key names are
// reported, never values.
func TestCheckKeysFailsForKeysTheirUsersRefuse(t *testing.T) {
	_, signing, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signingPEM, err := licensekey.MarshalPrivateKeyPEM(signing)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := koogallery.GenerateRSAKey(koogallery.MinRSABits)
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM, err := koogallery.PrivateKeyPEM(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	const notAKey = "no-key-at-all"
	basic := map[string]string{saasv1alpha1.BasicKeySecretKey: basicKey,
		saasv1alpha1.AccessKeyIDSecretKey: "ak", saasv1alpha1.SecretAccessKeySecretKey: "sk"}
	with := func(extra map[string]string) map[string]string {
		keys := maps.Clone(basic)
		maps.Copy(keys, extra)
		return keys
	}
	jointOperation := func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Workload = &saasv1alpha1.WorkloadTemplate{Image: "registry.example.com/app:1.0",
			Directory: &saasv1alpha1.DirectoryMount{MountPath: "/etc/kooper"}}
	}
	license := func(p *saasv1alpha1.SaaSProduct) { p.Spec.Type = saasv1alpha1.ProductTypeLicense }
	cases := []struct {
		name    string
		product func(*saasv1alpha1.SaaSProduct)
		keys    map[string]string
		passed  bool
		detail  string
	}{
		{name: "a SaaS product with the basic keys", keys: basic, passed: true,
			detail: "Secret kooper-test/keys holds basicKey, accessKeyId, secretAccessKey"},
		{name: "a joint-operation product without its kit keys", product: jointOperation, keys: basic,
			detail: "Secret kooper-test/keys lacks kitKey, rsaPrivateKey"},
		{name: "a joint-operation product without its RSA key", product: jointOperation,
			keys: with(map[string]string{saasv1alpha1.KitKeySecretKey: "kit"}), detail: "Secret kooper-test/keys lacks rsaPrivateKey"},
		{name: "a joint-operation product with an RSA key that is none", product: jointOperation,
			keys:   with(map[string]string{saasv1alpha1.KitKeySecretKey: "kit", saasv1alpha1.RSAPrivateKeySecretKey: notAKey}),
			detail: "Secret kooper-test/keys: rsaPrivateKey is not usable: the RSA private key is not PEM"},
		{name: "a joint-operation product with its kit keys", product: jointOperation, passed: true,
			keys:   with(map[string]string{saasv1alpha1.KitKeySecretKey: "kit", saasv1alpha1.RSAPrivateKeySecretKey: string(rsaPEM)}),
			detail: "Secret kooper-test/keys holds basicKey, accessKeyId, secretAccessKey, kitKey, rsaPrivateKey"},
		{name: "a License product with a signing key that is none", product: license,
			keys:   with(map[string]string{saasv1alpha1.LicenseSigningKeySecretKey: notAKey}),
			detail: "Secret kooper-test/keys: licenseSigningKey is not usable: it is not a PEM Ed25519 private key"},
		{name: "a License product with its signing key", product: license, passed: true,
			keys:   with(map[string]string{saasv1alpha1.LicenseSigningKeySecretKey: string(signingPEM)}),
			detail: "Secret kooper-test/keys holds basicKey, accessKeyId, secretAccessKey, licenseSigningKey"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: kooperNamespace, Name: "keys"}, Data: map[string][]byte{}}
			for k, v := range tc.keys {
				secret.Data[k] = []byte(v)
			}
			c := fake.NewClientBuilder().WithObjects(secret).Build()
			product := &saasv1alpha1.SaaSProduct{ObjectMeta: metav1.ObjectMeta{Name: "crm"},
				Spec: saasv1alpha1.SaaSProductSpec{Type: saasv1alpha1.ProductTypeSaaS, KeysSecretName: "keys"}}
			if tc.product != nil {
				tc.product(product)
			}
			key, result := checkProductKeys(ctxFor(t), c, kooperNamespace, product)
			g.Expect(result).To(Equal(checkResult{Name: "keys/crm", Passed: tc.passed, Detail: tc.detail}))
			g.Expect(result.Detail).NotTo(ContainSubstring(notAKey), "a key value leaked")
			if tc.passed {
				g.Expect(key).To(Equal(basicKey))
			}
		})
	}
}

// With leaderElection.enabled false (the chart's --leader-elect=false) no replica holds the
// Lease, and the one replica the chart allows reconciles: check's lease row passes, saying
// so, instead of failing for ever. It still fails when the flag is on (the last one given
// wins, as in the flag package) and no Lease is held, and when leader election is off but
// more than one replica runs: each would reconcile every object.
func TestCheckLeaseWithLeaderElectionOff(t *testing.T) {
	stale := &metav1.MicroTime{Time: time.Now().Add(-24 * time.Hour)}
	cases := []struct {
		name     string
		args     []string // the controllers container's; nil: no controllers Deployment
		replicas int32
		lease    *metav1.MicroTime // the Lease's last renewal; nil: no Lease
		passed   bool
		detail   string
	}{
		{name: "--leader-elect=false, one replica, no Lease", args: []string{"--components=controllers", "--leader-elect=false"},
			replicas: 1, passed: true, detail: "leader election is off (--leader-elect=false on Deployment %s/kooper-controllers): no Lease is held, and with 1 replica no two reconcile at once"},
		{name: "-leader-elect=false, the flag package's single dash", args: []string{"-leader-elect=false"},
			replicas: 1, passed: true, detail: "leader election is off"},
		{name: "--leader-elect=false, and the Lease left expired from when it was on", args: []string{"--leader-elect=false"},
			replicas: 1, lease: stale, passed: true, detail: "leader election is off"},
		{name: "--leader-elect=false, no replica", args: []string{"--leader-elect=false"},
			replicas: 0, passed: true, detail: "leader election is off"},
		{name: "--leader-elect=false, two replicas", args: []string{"--leader-elect=false"},
			replicas: 2, detail: "leader election is off (--leader-elect=false on Deployment %s/kooper-controllers) and 2 replicas run: each reconciles every object; scale to 1 replica, or turn leader election on (the chart's leaderElection.enabled)"},
		{name: "--leader-elect=false then --leader-elect=true, no Lease", args: []string{"--leader-elect=false", "--leader-elect=true"},
			replicas: 1, detail: "no controllers replica was ever elected leader"},
		{name: "--leader-elect, no Lease", args: []string{"--leader-elect"},
			replicas: 1, detail: "no controllers replica was ever elected leader"},
		{name: "no --leader-elect (on by default), no Lease", args: []string{"--components=controllers"},
			replicas: 1, detail: "no controllers replica was ever elected leader"},
		{name: "--leader-elect=true, the Lease expired", args: []string{"--leader-elect=true"},
			replicas: 1, lease: stale, detail: "expired: last renewed 24h0m"}, // and the seconds the cases took
		{name: "no controllers Deployment, no Lease", detail: "no controllers replica was ever elected leader"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ctx := ctxFor(t)
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "kooper-lease-"}}
			g.Expect(k8sClient.Create(ctx, ns)).To(Succeed())
			if tc.args != nil {
				labels := map[string]string{partOfLabel: "kooper", componentLabel: componentControllers}
				g.Expect(k8sClient.Create(ctx, &appsv1.Deployment{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "kooper-controllers", Labels: labels},
					Spec: appsv1.DeploymentSpec{Replicas: ptr.To(tc.replicas), Selector: &metav1.LabelSelector{MatchLabels: labels},
						Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
							Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "kooper", Image: "kooper:test", Args: tc.args}}}}},
				})).To(Succeed())
			}
			if tc.lease != nil {
				g.Expect(k8sClient.Create(ctx, &coordinationv1.Lease{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: saasv1alpha1.LeaderElectionLeaseName},
					Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("controllers-0"), LeaseDurationSeconds: ptr.To[int32](15),
						RenewTime: tc.lease},
				})).To(Succeed())
			}
			result := checkLease(ctx, k8sClient, ns.Name, time.Now())
			detail := tc.detail
			if strings.Contains(detail, "%s") {
				detail = fmt.Sprintf(detail, ns.Name)
			}
			g.Expect(result.Passed).To(Equal(tc.passed), result.Detail)
			g.Expect(result.Name).To(Equal("lease"))
			g.Expect(result.Detail).To(ContainSubstring(detail))
		})
	}
}

// What check reads, as docs/kubectl-kooper.md (check) lists it: in kooper's
// namespace (a Role there does), and cluster-wide (a ClusterRole).
var (
	checkNamespaceReads = []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods", "services"}, Verbs: []string{"list"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"list"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}},
	}
	checkPortForward  = []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods/portforward"}, Verbs: []string{"create"}}}
	checkClusterReads = []rbacv1.PolicyRule{
		{APIGroups: []string{"apiextensions.k8s.io"}, Resources: []string{"customresourcedefinitions"}, Verbs: []string{"get"}},
		{APIGroups: []string{saasv1alpha1.GroupVersion.Group}, Resources: []string{"saasproducts"}, Verbs: []string{"list"}},
		{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"validatingadmissionpolicies", "validatingadmissionpolicybindings"}, Verbs: []string{"list"}},
	}
)

// grant binds user a Role in kooper's namespace (clusterWide false) or a
// ClusterRole (true) named name with rules, until the test ends.
func grant(t *testing.T, user, name string, clusterWide bool, rules []rbacv1.PolicyRule) {
	t.Helper()
	g := NewWithT(t)
	ctx := ctxFor(t)
	subjects := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}
	var role, binding client.Object
	if clusterWide {
		role = &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
		binding = &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, Subjects: subjects,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}}
	} else {
		role = &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: kooperNamespace, Name: name}, Rules: rules}
		binding = &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: kooperNamespace, Name: name}, Subjects: subjects,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name}}
	}
	for _, obj := range []client.Object{role, binding} {
		g.Expect(k8sClient.Create(ctx, obj)).To(Succeed())
		t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), obj) })
	}
}

// outcomes are the checks of report by name: passed, or why not.
func outcomes(report checkReport) map[string]string {
	out := map[string]string{}
	for _, c := range report.Checks {
		out[c.Name] = "PASS"
		if !c.Passed {
			out[c.Name] = c.Detail
		}
	}
	return out
}

// A merchant who administers kooper's namespace but not the cluster runs
// check on a healthy kooper: each check whose read the API server refuses
// says which permission it lacks ("you may not ..."), not a raw
// "forbidden" that reads as kooper's fault, and is marked forbidden in -o
// json; check still exits 1, since it verified less than it should. With
// what docs/kubectl-kooper.md lists granted, check sees what a cluster
// admin sees.
func TestCheckSaysWhichPermissionAUserLacks(t *testing.T) {
	g := NewWithT(t)
	healthyKooper(t)
	product := newProduct(t, "perm")
	const user = "namespace-admin"
	as := []string{"--as", user, "-n", kooperNamespace}
	withReceiver := append([]string{"--receiver-url", receiverURL}, as...)
	grant(t, user, "kooper-check-reads", false, checkNamespaceReads)

	// RBAC takes effect once the API server's informers see it.
	var report checkReport
	g.Eventually(func(g Gomega) {
		var r result
		report, r = checkReportOf(g, time.Now, withReceiver...)
		g.Expect(r.code).To(Equal(ExitFailed), r.output())
		g.Expect(outcomes(report)).To(HaveKeyWithValue("lease", "PASS"))
	}).Should(Succeed())
	mayNot := func(what string) string {
		return "you may not " + what + "; this check needs it: run check as a user who may (docs/kubectl-kooper.md, check, lists what it reads)"
	}
	got := outcomes(report)
	for _, plural := range crdPlurals {
		g.Expect(got).To(HaveKeyWithValue("crd/"+plural, mayNot("get customresourcedefinitions.apiextensions.k8s.io (cluster-wide)")))
	}
	g.Expect(got).To(HaveKeyWithValue("keys", mayNot("list saasproducts.saas.kooper.io (cluster-wide)")))
	g.Expect(got).To(HaveKeyWithValue("admission-policy", mayNot("list validatingadmissionpolicies.admissionregistration.k8s.io (cluster-wide)")))
	for _, name := range []string{"pods/receiver", "pods/controllers", "lease", "clock"} {
		g.Expect(got).To(HaveKeyWithValue(name, "PASS"))
	}
	for _, c := range report.Checks {
		g.Expect(c.Forbidden).To(Equal(strings.HasPrefix(c.Detail, "you may not")), c.Name)
	}
	text := kooper(append([]string{"check"}, withReceiver...)...)
	g.Expect(text.code).To(Equal(ExitFailed))
	g.Expect(text.out).NotTo(ContainSubstring("is forbidden: User"), "the API server's refusal, raw")
	g.Expect(text.out).To(ContainSubstring("checks failed, 7 of them because you may not read what they need"))

	// The cluster-wide reads granted, the receiver is port-forwarded to, which needs its own grant.
	grant(t, user, "kooper-check-cluster-reads", true, checkClusterReads)
	g.Eventually(func(g Gomega) {
		report, _ := checkReportOf(g, time.Now, as...)
		g.Expect(outcomes(report)).To(HaveKeyWithValue("keys/"+product.Name, "PASS"))
		g.Expect(outcomes(report)).To(HaveKeyWithValue("receiver", mayNot("create pods/portforward (in namespace "+kooperNamespace+")")))
	}).Should(Succeed())

	// Everything listed granted: what a cluster admin sees (here, a port-forward with no
	// kubelet behind it fails for both; through --receiver-url, both pass).
	grant(t, user, "kooper-check-port-forward", false, checkPortForward)
	for _, args := range [][]string{nil, {"--receiver-url", receiverURL}} {
		g.Eventually(func(g Gomega) {
			admin, _ := checkReportOf(g, time.Now, append([]string{"-n", kooperNamespace}, args...)...)
			report, _ := checkReportOf(g, time.Now, append(args, as...)...)
			passed := func(report checkReport) map[string]bool {
				out := map[string]bool{}
				for _, c := range report.Checks {
					out[c.Name] = c.Passed
					g.Expect(c.Forbidden).To(BeFalse(), "%s: %s", c.Name, c.Detail)
				}
				return out
			}
			g.Expect(passed(report)).To(Equal(passed(admin)))
		}).Should(Succeed(), "%v", args)
	}
}

// With no Lease held, only kooper's Deployments say whether leader election
// is off (then none is held, rightly): a user who may not list them is told
// so, not that no replica was ever elected.
func TestCheckLeaseSaysWhenItMayNotListTheDeployments(t *testing.T) {
	g := NewWithT(t)
	c := fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if _, isDeployments := list.(*appsv1.DeploymentList); isDeployments {
				return apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "", fmt.Errorf("RBAC: not allowed"))
			}
			return c.List(ctx, list, opts...)
		},
	}).Build()
	result := checkLease(ctxFor(t), c, kooperNamespace, time.Now())
	g.Expect(result).To(Equal(checkResult{Name: "lease", Forbidden: true, Detail: "you may not list deployments.apps (in namespace " + kooperNamespace +
		"); this check needs it: run check as a user who may (docs/kubectl-kooper.md, check, lists what it reads)"}))
}
