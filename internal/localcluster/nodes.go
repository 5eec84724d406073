package localcluster

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// kwokNodeAnnotation marks the nodes kwok manages.
const kwokNodeAnnotation = "kwok.x-k8s.io/node"

// readyTimeout bounds each wait for the cluster to come up.
const readyTimeout = 2 * time.Minute

// waitForControllers waits until the controller-manager works: its
// ServiceAccount controller creates the default ServiceAccount, which the
// ServiceAccount admission plugin needs before any pod can be created.
func (c *Cluster) waitForControllers(ctx context.Context) error {
	c.logf("Waiting for kube-controller-manager")
	cs, err := c.Clientset()
	if err != nil {
		return err
	}
	return c.poll(ctx, "the default ServiceAccount", func(ctx context.Context) (bool, error) {
		// Any error means "not yet": the API server may still be settling.
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
}

// addNodes creates n kwok nodes and waits until each is Ready and has lost
// its not-ready taint, so pods can be scheduled on it.
func (c *Cluster) addNodes(ctx context.Context, n int) error {
	c.logf("Adding %d kwok nodes", n)
	cs, err := c.Clientset()
	if err != nil {
		return err
	}
	for i := range n {
		if _, err := cs.CoreV1().Nodes().Create(ctx, kwokNode(fmt.Sprintf("kwok-node-%d", i)), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("failed to create a kwok node: %w", err)
		}
	}
	return c.poll(ctx, "the kwok nodes to be Ready", func(ctx context.Context) (bool, error) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		ready := 0
		for i := range nodes.Items {
			if schedulable(&nodes.Items[i]) {
				ready++
			}
		}
		return ready == n, nil
	})
}

// PodsPerNode is how many pods a kwok node holds.
const PodsPerNode = 250

// kwokNode is a fake node with room for many tenants.
func kwokNode(name string) *corev1.Node {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   *resource.NewQuantity(PodsPerNode, resource.DecimalSI),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{kwokNodeAnnotation: "fake"},
			Labels: map[string]string{
				"kubernetes.io/hostname": name,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "amd64",
				"type":                   "kwok",
			},
		},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
}

func schedulable(node *corev1.Node) bool {
	for _, t := range node.Spec.Taints {
		if t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable {
			return false
		}
	}
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// poll waits for done, failing early when a component exits.
func (c *Cluster) poll(ctx context.Context, what string, done wait.ConditionWithContextFunc) error {
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, readyTimeout, true, func(ctx context.Context) (bool, error) {
		if err := c.CheckComponents(); err != nil {
			return false, err
		}
		return done(ctx)
	})
	if err != nil {
		return fmt.Errorf("waiting for %s: %w (logs in %s)", what, err, c.LogDir)
	}
	return nil
}
