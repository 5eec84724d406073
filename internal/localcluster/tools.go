package localcluster

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// Tools are the paths of the binaries hack/build-tools.sh builds into bin/,
// at the versions pinned in hack/versions.env.
type Tools struct {
	// EnvtestDir holds kube-apiserver, etcd and kubectl, laid out as envtest
	// expects.
	EnvtestDir            string
	KubeControllerManager string
	KubeScheduler         string
	Kubectl               string
	Kwok                  string
	Helm                  string
	// KwokVersion selects the kwok module whose stage files are used.
	KwokVersion string
}

// FindTools resolves the tool paths under root/bin and checks that each one
// exists, so a missing build is reported before anything starts.
func FindTools(root string) (Tools, error) {
	versions, err := readVersions(filepath.Join(root, "hack", "versions.env"))
	if err != nil {
		return Tools{}, err
	}
	bin := filepath.Join(root, "bin")
	kube := filepath.Join(bin, "kubernetes-"+versions["KUBERNETES_VERSION"])
	t := Tools{
		EnvtestDir:            filepath.Join(bin, "envtest"),
		KubeControllerManager: filepath.Join(kube, "kube-controller-manager"),
		KubeScheduler:         filepath.Join(kube, "kube-scheduler"),
		Kubectl:               filepath.Join(kube, "kubectl"),
		Kwok:                  filepath.Join(bin, "kwok-"+versions["KWOK_VERSION"], "kwok"),
		Helm:                  filepath.Join(bin, "helm-"+versions["HELM_VERSION"], "helm"),
		KwokVersion:           versions["KWOK_VERSION"],
	}
	for _, p := range []string{
		filepath.Join(t.EnvtestDir, "kube-apiserver"), filepath.Join(t.EnvtestDir, "etcd"),
		t.KubeControllerManager, t.KubeScheduler, t.Kubectl, t.Kwok, t.Helm,
	} {
		if _, err := os.Stat(p); err != nil {
			return Tools{}, fmt.Errorf("%s is missing: run 'make tools' (hack/build-tools.sh) first", p)
		}
	}
	return t, nil
}

// readVersions parses the KEY=value lines of hack/versions.env.
func readVersions(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read the tool versions: %w", err)
	}
	defer f.Close()
	versions := map[string]string{}
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if key, value, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			versions[key] = value
		}
	}
	return versions, scanner.Err()
}

// NeverReadyImageTag is the image tag the local cluster never makes Ready:
// a pod any of whose containers runs an image with this tag (an image
// ending in ":never-ready") stays Pending and not Ready for good, as the
// pods of an app version that fails its readiness probe would on a real
// cluster. Every other pod becomes Ready as kwok's stock stages make it.
// The image need not exist: kwok runs nothing. The end-to-end test uses it
// for an app version whose rollout must pause by itself.
const NeverReadyImageTag = "never-ready"

// neverReadyExpression is the kwok stage selector's expression that leaves
// out a pod with a container on an image tagged NeverReadyImageTag: the
// jq key yields one boolean per container, and NotIn matches only when
// none of them is true.
var neverReadyExpression = map[string]any{
	"key":      `.spec.containers.[].image | endswith(":` + NeverReadyImageTag + `")`,
	"operator": "NotIn",
	"values":   []any{"true"},
}

// skipNeverReady returns the kwok stage stage (YAML) with the selector
// expression neverReadyExpression added to its matchExpressions, so the
// stage never readies a pod of an image tagged NeverReadyImageTag.
func skipNeverReady(stage []byte) ([]byte, error) {
	var obj map[string]any
	if err := yaml.Unmarshal(stage, &obj); err != nil {
		return nil, fmt.Errorf("failed to read a kwok stage: %w", err)
	}
	spec, _ := obj["spec"].(map[string]any)
	selector, _ := spec["selector"].(map[string]any)
	if selector == nil {
		return nil, fmt.Errorf("kwok stage %v has no spec.selector", obj["metadata"])
	}
	expressions, _ := selector["matchExpressions"].([]any)
	selector["matchExpressions"] = append(expressions, neverReadyExpression)
	return yaml.Marshal(obj)
}

// writeStages returns the stage files kwok runs with: kwok's stock ones
// (kwokStageFiles), with the pod-ready stage replaced by a copy in dir that
// leaves pods of NeverReadyImageTag alone, and, with readyAgain,
// podReadyAgainStage, which leaves them alone too.
func writeStages(dir, version string, readyAgain bool) ([]string, error) {
	files, err := kwokStageFiles(version)
	if err != nil {
		return nil, err
	}
	for i, f := range files {
		if filepath.Base(f) != "pod-ready.yaml" {
			continue
		}
		stock, err := os.ReadFile(filepath.Clean(f))
		if err != nil {
			return nil, fmt.Errorf("failed to read kwok's pod-ready stage: %w", err)
		}
		if files[i], err = writeStage(dir, "pod-ready.yaml", stock); err != nil {
			return nil, err
		}
	}
	if readyAgain {
		path, err := writeStage(dir, "pod-ready-again.yaml", []byte(podReadyAgainStage))
		if err != nil {
			return nil, err
		}
		files = append(files, path)
	}
	return files, nil
}

// writeStage writes stage, changed by skipNeverReady, to dir/name.
func writeStage(dir, name string, stage []byte) (string, error) {
	changed, err := skipNeverReady(stage)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	return path, os.WriteFile(path, changed, 0o644)
}

// kwokStageFiles returns the stage files kwok needs to move fake nodes and
// pods through their lifecycle. They ship in the kwok module itself (the one
// build-tools.sh built kwok from), so they come from the Go module proxy.
func kwokStageFiles(version string) ([]string, error) {
	out, err := exec.Command("go", "mod", "download", "-json", "sigs.k8s.io/kwok@"+version).Output()
	if err != nil {
		return nil, fmt.Errorf("failed to locate the kwok %s module: %w", version, err)
	}
	var module struct{ Dir string }
	if err := json.Unmarshal(out, &module); err != nil || module.Dir == "" {
		return nil, fmt.Errorf("failed to locate the kwok %s module: unexpected 'go mod download' output", version)
	}
	stages := filepath.Join(module.Dir, "kustomize", "stage")
	files := []string{
		filepath.Join(stages, "node", "fast", "node-initialize.yaml"),
		filepath.Join(stages, "node", "heartbeat", "node-heartbeat.yaml"),
		filepath.Join(stages, "pod", "fast", "pod-ready.yaml"),
		filepath.Join(stages, "pod", "fast", "pod-complete.yaml"),
		filepath.Join(stages, "pod", "fast", "pod-delete.yaml"),
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("kwok stage file missing: %w", err)
		}
	}
	return files, nil
}

// podReadyAgainStage is a kwok stage for Options.ReadyAgain: a Running pod
// whose Ready condition is not True gets its conditions back, as its
// kubelet would once its node is heard from again. writeStages adds
// neverReadyExpression to it.
const podReadyAgainStage = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-ready-again
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'NotIn'
      values:
      - 'True'
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Initialized
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: ContainersReady
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: PodScheduled
`
