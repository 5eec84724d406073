package tenantobjects

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// The SSO gateway (spec.workload.sso.gateway, docs/sso-gateway.md): a
// container of kooper's image beside the app in each tenant pod.
const (
	// GatewayContainerName names the gateway's container.
	GatewayContainerName = "kooper-gateway"
	// GatewayPortName names the gateway's container port; the Service's
	// first port sends traffic to it.
	GatewayPortName = "kooper-gateway"
	// GatewayHealthPath is the gateway's readiness path, served without a
	// login.
	GatewayHealthPath = "/oauth2/healthz"
	// DefaultGatewayPort is the gateway's port when the product names none
	// (the API server's default of the field, for a product built in Go).
	DefaultGatewayPort = 4180
	// DefaultGatewayImage is the gateway's image when neither the product
	// nor the controllers' --gateway-image names one.
	DefaultGatewayImage = "ghcr.io/kooper-io/kooper:latest"
)

// defaultGatewayResources are the gateway's resources when the product
// names none: it holds no session state, so a little memory is enough.
var defaultGatewayResources = saasv1alpha1.ContainerResources{
	Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
	Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
}

// GatewayResources are the gateway container's resources, nil for a
// workload without a gateway. A plan's quota must hold them with the
// app's, in every pod (see plansCondition).
func GatewayResources(w *saasv1alpha1.WorkloadTemplate) *saasv1alpha1.ContainerResources {
	gw := w.Gateway()
	if gw == nil {
		return nil
	}
	if r := gw.Resources; r != nil {
		return r
	}
	return defaultGatewayResources.DeepCopy()
}

// GatewayPort is the gateway's container port; w must have a gateway.
func GatewayPort(w *saasv1alpha1.WorkloadTemplate) int32 {
	if port := w.Gateway().Port; port != 0 {
		return port
	}
	return DefaultGatewayPort
}

// gatewayImage is the product's gateway image, else the controllers'.
func (d *Desired) gatewayImage() string {
	if image := d.Product.Spec.Workload.Gateway().Image; image != "" {
		return image
	}
	return GatewayImageOr(d.GatewayImage)
}

// GatewayImageOfVersion is kooper's own image of version, a build's
// version (main.version, set when the image is built): the gateway the
// controllers of that version run when nothing names one, so that a plain
// binary's gateway is its own release, not whatever :latest is today.
// A version that is no image tag (empty, or "(devel)") gives
// DefaultGatewayImage.
func GatewayImageOfVersion(version string) string {
	if !imageTag.MatchString(version) {
		return DefaultGatewayImage
	}
	repository, _, _ := strings.Cut(DefaultGatewayImage, ":")
	return repository + ":" + version
}

// imageTag is the syntax of an OCI image tag.
var imageTag = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// GatewayImageOr is the controllers' gateway image: image (their
// --gateway-image), or DefaultGatewayImage when that is empty.
func GatewayImageOr(image string) string {
	if image != "" {
		return image
	}
	return DefaultGatewayImage
}

// gatewayContainer runs `kooper gateway` in front of the app's first
// port, reading the SSO settings and the directory mounted for the app.
func (d *Desired) gatewayContainer() corev1.Container {
	w := d.Product.Spec.Workload
	mount := w.Directory.MountPath
	if mount == "" {
		mount = "/etc/kooper"
	}
	port := GatewayPort(w)
	args := []string{"gateway",
		"--listen=:" + strconv.Itoa(int(port)),
		fmt.Sprintf("--upstream=http://127.0.0.1:%d", w.Ports[0].ContainerPort),
		"--sso-dir=" + path.Join(mount, "sso"),
		"--directory-dir=" + path.Join(mount, "directory"),
	}
	if appID := w.Gateway().AppID; appID != "" {
		args = append(args, "--app-id="+appID)
	}
	if d.URLs.FrontEnd != "" {
		args = append(args, "--external-url="+d.URLs.FrontEnd)
	}
	if w.Gateway().WorkplaceLogins == saasv1alpha1.WorkplaceLoginsAccept {
		args = append(args, "--workplace-logins")
	}
	r := GatewayResources(w)
	return corev1.Container{
		Name:            GatewayContainerName,
		Image:           d.gatewayImage(),
		ImagePullPolicy: w.ImagePullPolicy,
		Args:            args,
		Ports:           []corev1.ContainerPort{{Name: GatewayPortName, ContainerPort: port, Protocol: corev1.ProtocolTCP}},
		Resources:       corev1.ResourceRequirements{Requests: r.Requests, Limits: r.Limits},
		VolumeMounts:    directoryMounts(mount),
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: GatewayHealthPath, Port: intstr.FromString(GatewayPortName)}}, PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3},
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			RunAsNonRoot:             ptr.To(true),
			RunAsUser:                ptr.To(int64(65532)),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}
}
