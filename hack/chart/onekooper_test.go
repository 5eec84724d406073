package chart

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kooper-io/kooper/internal/testenv"
)

// The aggregated ClusterRoles' names: fixed, whatever the release, so that a second kooper
// release in a cluster is refused by Helm's ownership check (one kooper per cluster: docs/
// operations.md). kooper's controllers select no instance of their kinds, so two releases
// would both reconcile every product, tenant, licence and directory.
const (
	aggregatedView = "saas.kooper.io:view"
	aggregatedEdit = "saas.kooper.io:edit"
)

// helmVersions returns the pinned Helm and each older one of HELM_OLD_VERSIONS
// (hack/versions.env; v3.8.2 is CCE's console's), keyed by version, each one's binary, or
// "" when it has not been built.
func helmVersions(t *testing.T) map[string]string {
	t.Helper()
	root := repoRoot(t)
	f, err := os.Open(filepath.Join(root, "hack", "versions.env"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	versions := []string{helmVersion}
	for s := bufio.NewScanner(f); s.Scan(); {
		if v, ok := strings.CutPrefix(s.Text(), "HELM_OLD_VERSIONS="); ok {
			versions = append(versions, strings.Split(v, ",")...)
		}
	}
	bins := map[string]string{}
	for _, v := range versions {
		bin := filepath.Join(root, "bin", "helm-"+v, "helm")
		if _, err := os.Stat(bin); err != nil {
			bin = ""
		}
		bins[v] = bin
	}
	return bins
}

// helmOn runs Helm binary bin against the cluster of kubeconfig, in the repository root
// with a private Helm home; it returns stdout and, on failure, an error carrying stderr.
func helmOn(t *testing.T, bin, kubeconfig string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = repoRoot(t)
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+kubeconfig,
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), errors.New(err.Error() + ": " + stderr.String())
	}
	return stdout.String(), nil
}

// chartWithReleaseNamedRoles copies charts/kooper into a temporary directory with the
// aggregated ClusterRoles named after the release (<fullname>-view, <fullname>-edit), as
// every chart before one kooper per cluster named them, and returns its path.
func chartWithReleaseNamedRoles(t *testing.T) string {
	t.Helper()
	src := filepath.Join(repoRoot(t), "charts", "kooper")
	dst := filepath.Join(t.TempDir(), "kooper")
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	template := filepath.Join(dst, "templates", "rbac-aggregate.yaml")
	data, err := os.ReadFile(template)
	if err != nil {
		t.Fatal(err)
	}
	old := string(data)
	for fixed, suffix := range map[string]string{aggregatedView: "-view", aggregatedEdit: "-edit"} {
		if !strings.Contains(old, "name: "+fixed) {
			t.Fatalf("templates/rbac-aggregate.yaml names no ClusterRole %s", fixed)
		}
		old = strings.ReplaceAll(old, "name: "+fixed, `name: {{ include "kooper.fullname" . }}`+suffix)
	}
	if err := os.WriteFile(template, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestOneKooperPerCluster installs the chart twice into one control plane, with each Helm
// of bin/, and checks that Helm refuses the second release (in another namespace or the
// same one, with crds.enabled=false) naming the fixed-name ClusterRole and the release
// that owns it; and that upgrading releases made by an older chart (release-named roles)
// moves the first one to the fixed names and refuses the second.
func TestOneKooperPerCluster(t *testing.T) {
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("failed to stop envtest: %v", err)
		}
	})
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	admin, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	for version, bin := range helmVersions(t) {
		t.Run("helm "+version, func(t *testing.T) {
			if bin == "" {
				t.Skipf("Helm %s not built (hack/build-tools.sh)", version)
			}
			// Each subtest's releases have names of their own: the namespaces of another's
			// linger, Terminating, with no namespace controller to empty them.
			prefix := strings.NewReplacer("v", "h", ".", "-").Replace(version) + "-"
			helm := func(args ...string) (string, error) { return helmOn(t, bin, kubeconfig, args...) }
			t.Run("refuses a second release", func(t *testing.T) {
				checkSecondReleaseRefused(t, helm, admin, prefix)
			})
			t.Run("moves a release-named install to the fixed names", func(t *testing.T) {
				checkUpgradeFromReleaseNamedRoles(t, helm, admin, prefix)
			})
		})
	}
}

// checkSecondReleaseRefused installs <prefix>staging, then tries <prefix>prod beside it.
func checkSecondReleaseRefused(t *testing.T, helm func(...string) (string, error), admin client.Client, prefix string) {
	staging, prod := prefix+"staging", prefix+"prod"
	install := func(release, namespace string, set ...string) (string, error) {
		args := []string{"install", release, "charts/kooper", "--namespace", namespace, "--create-namespace"}
		for _, s := range set {
			args = append(args, "--set", s)
		}
		return helm(args...)
	}
	if _, err := install(staging, staging, "crds.enabled=false"); err != nil {
		t.Fatalf("helm install %s: %v", staging, err)
	}
	t.Cleanup(func() {
		if _, err := helm("uninstall", staging, "--namespace", staging); err != nil {
			t.Errorf("helm uninstall %s: %v", staging, err)
		}
	})
	ownedBy(t, admin, aggregatedView, staging)
	ownedBy(t, admin, aggregatedEdit, staging)
	// The first object of the second release that Helm finds owned by the first: with the
	// directory namespace <namespace>-directory, that Namespace (Helm installs Namespaces
	// first); in another namespace, or without it, the aggregated view ClusterRole.
	viewRole := `ClusterRole "` + aggregatedView + `"`
	for _, tc := range []struct {
		name, namespace, refusedBy string
		set                        []string
	}{
		{"another namespace, CRDs managed elsewhere", prod, viewRole, []string{"crds.enabled=false"}},
		{"another namespace, CRDs managed elsewhere, nothing aggregated", prod, viewRole,
			[]string{"crds.enabled=false", "rbac.aggregateToDefaultRoles=false"}},
		{"the same namespace, CRDs and directory namespace managed elsewhere", staging, viewRole,
			[]string{"crds.enabled=false", "directoryNamespace.create=false", "directoryNamespace.name=" + prod + "-directory"}},
		{"the same namespace, CRDs managed elsewhere", staging, `Namespace "` + staging + `-directory"`, []string{"crds.enabled=false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := install(prod, tc.namespace, tc.set...)
			if err == nil {
				_, _ = helm("uninstall", prod, "--namespace", tc.namespace)
				t.Fatalf("helm install %s in %s succeeded beside %s: two kooper releases reconcile the same objects", prod, tc.namespace, staging)
			}
			t.Logf("refused: %v", err)
			for _, want := range []string{tc.refusedBy + " in namespace \"\" exists and cannot be imported into the current release",
				`"meta.helm.sh/release-name" must equal "` + prod + `": current value is "` + staging + `"`} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("helm install %s: error does not say %q: %v", prod, want, err)
				}
			}
			if out, err := helm("status", prod, "--namespace", tc.namespace); err == nil {
				t.Errorf("the refused install left a release %s:\n%s", prod, out)
			}
		})
	}
}

// checkUpgradeFromReleaseNamedRoles installs <prefix>old-a and <prefix>old-b with the
// older chart (both succeed: the fault), then upgrades both to this one.
func checkUpgradeFromReleaseNamedRoles(t *testing.T, helm func(...string) (string, error), admin client.Client, prefix string) {
	oldChart := chartWithReleaseNamedRoles(t)
	a, b := prefix+"old-a", prefix+"old-b"
	for _, release := range []string{a, b} {
		if _, err := helm("install", release, oldChart, "--namespace", release, "--create-namespace", "--set", "crds.enabled=false"); err != nil {
			t.Fatalf("helm install %s with the release-named roles: %v", release, err)
		}
		t.Cleanup(func() {
			if _, err := helm("uninstall", release, "--namespace", release); err != nil {
				t.Errorf("helm uninstall %s: %v", release, err)
			}
		})
		ownedBy(t, admin, release+"-kooper-view", release)
	}
	if _, err := helm("upgrade", a, "charts/kooper", "--namespace", a, "--reuse-values"); err != nil {
		t.Fatalf("helm upgrade %s to the fixed names: %v", a, err)
	}
	ownedBy(t, admin, aggregatedView, a)
	ownedBy(t, admin, aggregatedEdit, a)
	for _, gone := range []string{a + "-kooper-view", a + "-kooper-edit"} {
		err := admin.Get(context.Background(), client.ObjectKey{Name: gone}, &rbacv1.ClusterRole{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("ClusterRole %s outlived the upgrade of %s: %v", gone, a, err)
		}
	}
	_, err := helm("upgrade", b, "charts/kooper", "--namespace", b, "--reuse-values")
	if err == nil {
		t.Fatalf("helm upgrade %s succeeded beside %s", b, a)
	}
	if want := `"meta.helm.sh/release-name" must equal "` + b + `": current value is "` + a + `"`; !strings.Contains(err.Error(), want) {
		t.Errorf("helm upgrade %s: error does not say %q: %v", b, want, err)
	}
	// The refused upgrade changed nothing: b still runs on its release-named roles.
	ownedBy(t, admin, b+"-kooper-view", b)
	ownedBy(t, admin, aggregatedView, a)
	if out, err := helm("history", b, "--namespace", b, "--max", "1", "-o", "yaml"); err != nil || !strings.Contains(out, "status: deployed") {
		t.Errorf("helm history %s after the refused upgrade: %v\n%s", b, err, out)
	}
}

// ownedBy checks that ClusterRole name exists and Helm's annotations give it to release.
func ownedBy(t *testing.T, admin client.Client, name, release string) {
	t.Helper()
	role := &rbacv1.ClusterRole{}
	if err := admin.Get(context.Background(), client.ObjectKey{Name: name}, role); err != nil {
		t.Errorf("ClusterRole %s: %v", name, err)
		return
	}
	if got := role.Annotations["meta.helm.sh/release-name"]; got != release {
		t.Errorf("ClusterRole %s belongs to release %q, want %q", name, got, release)
	}
}
