package kubectlkooper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/streaming/pkg/httpstream"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kooper-io/kooper/webhook"
)

// receiverPortName is the receiver Service's port (charts/kooper
// templates/service.yaml).
const receiverPortName = "http-receiver"

// metricsServiceLabel marks each component's metrics Service, which the
// receiver's Service is not.
const metricsServiceLabel = "saas.kooper.io/metrics"

// receiverURLForms names the forms --receiver-url takes.
const receiverURLForms = "the receiver's base URL (https://crm.example.com) or a production URL (https://crm.example.com/koogallery/<product>)"

// parseReceiverURL checks --receiver-url before anything is sent, and
// splits it into the receiver's base URL and the product a production URL
// names (empty for a base URL): both forms are accepted, since the
// production URL is what the Seller Console wants. A malformed value (not
// http or https, no host, a query) is a usage error.
func parseReceiverURL(value string) (base, product string, err error) {
	if value == "" {
		return "", "", nil
	}
	u, err := url.Parse(value)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", "", usagef("--receiver-url %q is not a URL kooper's receiver answers at: give %s", value, receiverURLForms)
	}
	path := strings.TrimRight(u.Path, "/")
	if i := strings.LastIndex(path, webhook.CallbackPathPrefix); i >= 0 && !strings.Contains(path[i+len(webhook.CallbackPathPrefix):], "/") {
		path, product = path[:i], path[i+len(webhook.CallbackPathPrefix):]
	}
	return u.Scheme + "://" + u.Host + path, product, nil
}

// productionURL is product's production URL at the receiver's base URL.
func productionURL(base, product string) string {
	return base + webhook.CallbackPathPrefix + product
}

// receiverEndpoint is the receiver's base URL, such as
// http://127.0.0.1:41234: override when set (the base URL of
// --receiver-url, from parseReceiverURL: an Ingress, an
// ELB, or a receiver run outside the cluster); else a port-forward, as
// `kubectl port-forward service/...` makes, to a Ready Pod behind the
// receiver's Service in namespace ns. stop ends the forward; call it when
// done. Progress lines go to log.
func receiverEndpoint(ctx context.Context, c *clients, ns, override string, log io.Writer) (base string, stop func(), err error) {
	if override != "" {
		return override, func() {}, nil
	}
	svc, err := receiverService(ctx, c.client, ns)
	if err != nil {
		return "", nil, err
	}
	pod, port, err := servingPod(ctx, c.client, svc)
	if err != nil {
		return "", nil, err
	}
	local, stop, err := forward(ctx, c, pod, port)
	if err != nil {
		return "", nil, fmt.Errorf("failed to port-forward to Pod %s/%s:%d of Service %s: %w; "+
			"where Pods cannot be port-forwarded to (a kwok cluster such as the local/demo stack, no kubelet), pass --receiver-url with "+
			"the receiver's address (the local stack prints it)", pod.Namespace, pod.Name, port, svc.Name, err)
	}
	fmt.Fprintf(log, "Forwarding 127.0.0.1:%d to Service %s/%s (Pod %s, port %d)\n", local, ns, svc.Name, pod.Name, port)
	return "http://127.0.0.1:" + strconv.Itoa(int(local)), stop, nil
}

// receiverService finds the receiver's Service in ns: kooper's, of the
// receiver component, not a metrics Service.
func receiverService(ctx context.Context, c client.Client, ns string) (*corev1.Service, error) {
	list := &corev1.ServiceList{}
	if err := c.List(ctx, list, client.InNamespace(ns), componentSelector(componentReceiver)); err != nil {
		return nil, fmt.Errorf("failed to list Services in %s: %w", ns, err)
	}
	for i := range list.Items {
		if list.Items[i].Labels[metricsServiceLabel] == "" {
			return &list.Items[i], nil
		}
	}
	return nil, fmt.Errorf("no receiver Service of kooper in namespace %s (labels %s=kooper, %s=%s): is kooper installed there? (-n, or --receiver-url)",
		ns, partOfLabel, componentLabel, componentReceiver)
}

// servingPod is a Ready Pod behind svc and the container port its
// http-receiver port targets.
func servingPod(ctx context.Context, c client.Client, svc *corev1.Service) (*corev1.Pod, int32, error) {
	var target intstr.IntOrString
	for _, p := range svc.Spec.Ports {
		if p.Name == receiverPortName {
			target = p.TargetPort
		}
	}
	if target.String() == "" || target.String() == "0" {
		return nil, 0, fmt.Errorf("service %s/%s has no port %s", svc.Namespace, svc.Name, receiverPortName)
	}
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(svc.Namespace), client.MatchingLabels(svc.Spec.Selector)); err != nil {
		return nil, 0, fmt.Errorf("failed to list the receiver's Pods: %w", err)
	}
	for i := range pods.Items {
		pod := &pods.Items[i]
		if !podReady(pod) {
			continue
		}
		if port, ok := containerPort(pod, target); ok {
			return pod, port, nil
		}
	}
	return nil, 0, fmt.Errorf("no Ready Pod behind Service %s/%s", svc.Namespace, svc.Name)
}

// podReady reports whether pod is Running with Ready True.
func podReady(pod *corev1.Pod) bool {
	if pod.Status.Phase != corev1.PodRunning || pod.DeletionTimestamp != nil {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// containerPort resolves a Service's target port on pod.
func containerPort(pod *corev1.Pod, target intstr.IntOrString) (int32, bool) {
	if target.Type == intstr.Int {
		return target.IntVal, true
	}
	for _, container := range pod.Spec.Containers {
		for _, p := range container.Ports {
			if p.Name == target.StrVal {
				return p.ContainerPort, true
			}
		}
	}
	return 0, false
}

// forward port-forwards a free local port on 127.0.0.1 to pod's port, as
// kubectl does (WebSockets first, then SPDY), and returns the local port.
func forward(ctx context.Context, c *clients, pod *corev1.Pod, port int32) (uint16, func(), error) {
	url := c.set.CoreV1().RESTClient().Post().Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("portforward").URL()
	transport, upgrader, err := spdy.RoundTripperFor(c.config)
	if err != nil {
		return 0, nil, err
	}
	dialer := spdy.NewDialerForStreaming(upgrader, &http.Client{Transport: transport}, http.MethodPost, url)
	tunneling, err := portforward.NewSPDYOverWebsocketDialerForStreaming(url, c.config)
	if err != nil {
		return 0, nil, err
	}
	dialer = portforward.NewFallbackDialerForStreaming(tunneling, dialer, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	stopCh, readyCh := make(chan struct{}), make(chan struct{})
	fw, err := portforward.NewOnAddressesForStreaming(dialer, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(int(port))}, stopCh, readyCh, io.Discard, io.Discard)
	if err != nil {
		return 0, nil, err
	}
	failed := make(chan error, 1)
	go func() { failed <- fw.ForwardPorts() }()
	stop := func() { close(stopCh) }
	select {
	case <-readyCh:
	case err := <-failed:
		if err == nil {
			err = errors.New("the port-forward ended at once")
		}
		return 0, nil, err
	case <-ctx.Done():
		stop()
		return 0, nil, ctx.Err()
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) == 0 {
		stop()
		return 0, nil, fmt.Errorf("no local port: %w", err)
	}
	return ports[0].Local, stop, nil
}
