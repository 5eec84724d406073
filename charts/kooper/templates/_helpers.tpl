{{/*
Fails when a value is missing, naming it and how to upgrade. Renders nothing. Argument:
(list . "receiver.drainDelaySeconds" ["other.key" ...]), each a dotted path under .Values.
`helm upgrade --reuse-values` renders this chart with the values of the chart the release was
installed with, without this chart's values.yaml, so a key added since is nil; and `int`, `if`
and printf read nil as 0, false or text the process may accept, which differs from the key's
default without a word. A template reads a key through this check where that would change
what it renders; values.yaml keeps the one default. Only nil fails, not Helm's `required`: ""
is a value here (podDisruptionBudget.maxUnavailable's default), as are 0 and false. A key set
to null is missing too: Helm drops it from the values.
*/}}
{{- define "kooper.required" -}}
{{- $values := (first .).Values }}
{{- range $path := rest . }}
{{- $value := $values }}
{{- $missing := false }}
{{- range $key := splitList "." $path }}
{{- if kindIs "map" $value }}
{{- $value = index $value $key }}
{{- else }}
{{- $missing = true }}
{{- end }}
{{- end }}
{{- if or $missing (kindIs "invalid" $value) }}
{{- fail (printf "%s is missing from the values (set to null, or kept by helm upgrade --reuse-values from an older chart that lacked it): upgrade with --reset-then-reuse-values (Helm 3.14 or later) or -f <your values file> instead of --reuse-values" $path) }}
{{- end }}
{{- end }}
{{- end }}

{{/* Chart name, overridable with .Values.nameOverride. */}}
{{- define "kooper.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name, <fullname> in the docs: fullnameOverride, else <release>-<chart> (or
<release> when it already contains the chart name), cut to 43 characters so that every
<fullname>-<suffix> the chart makes fits in 63, the limit of a Service's name (a DNS label) and
of a Deployment's for its Pods' hostnames; the longest is <fullname>-controllers-metrics
(docs/naming.md). No installation ever had a longer <fullname>: that Service, always rendered,
was refused.
*/}}
{{- define "kooper.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 43 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 43 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 43 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* chart label value: <name>-<version>. */}}
{{- define "kooper.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Common labels. */}}
{{- define "kooper.labels" -}}
helm.sh/chart: {{ include "kooper.chart" . }}
{{ include "kooper.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kooper
{{- end }}

{{/* Selector labels (immutable on the Deployment: never add to them). */}}
{{- define "kooper.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kooper.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of one component's objects: the common labels and app.kubernetes.io/component.
Argument: (dict "root" . "component" "receiver"|"controllers").
*/}}
{{- define "kooper.componentLabels" -}}
{{ include "kooper.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Selector labels of one component's Pods (immutable on its Deployment). Argument as kooper.componentLabels. */}}
{{- define "kooper.componentSelectorLabels" -}}
{{ include "kooper.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
The receiver's ServiceAccount: bound to the roles generated from webhook/'s RBAC
markers (templates/rbac-receiver.yaml).
*/}}
{{- define "kooper.receiverServiceAccountName" -}}
{{- include "kooper.checkServiceAccounts" . }}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-receiver" (include "kooper.fullname" .)) .Values.serviceAccount.receiverName }}
{{- else }}
{{- required "serviceAccount.receiverName is required when serviceAccount.create is false" .Values.serviceAccount.receiverName }}
{{- end }}
{{- end }}

{{/*
The controllers' ServiceAccount: bound to the roles generated from controllers/'s RBAC
markers (templates/rbac-controllers.yaml) and to the leader-election Role, and the
subject of the admission policy (templates/admissionpolicy.yaml).
*/}}
{{- define "kooper.controllersServiceAccountName" -}}
{{- include "kooper.checkServiceAccounts" . }}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-controllers" (include "kooper.fullname" .)) .Values.serviceAccount.controllersName }}
{{- else }}
{{- required "serviceAccount.controllersName is required when serviceAccount.create is false" .Values.serviceAccount.controllersName }}
{{- end }}
{{- end }}

{{/*
Fails when both components would run under one ServiceAccount: the receiver, which faces the
internet, would hold the controllers' RBAC. Renders nothing. Each component's name is compared
as the chart would give it, or as set (with serviceAccount.create false, a name left empty is
the `required` of the component's own helper to report).
*/}}
{{- define "kooper.checkServiceAccounts" -}}
{{- $names := list }}
{{- range $component := list "receiver" "controllers" }}
{{- $name := get $.Values.serviceAccount (printf "%sName" $component) }}
{{- if $.Values.serviceAccount.create }}
{{- $name = default (printf "%s-%s" (include "kooper.fullname" $) $component) $name }}
{{- end }}
{{- $names = append $names $name }}
{{- end }}
{{- if and (index $names 0) (eq (index $names 0) (index $names 1)) }}
{{- fail (printf "serviceAccount.receiverName and serviceAccount.controllersName must differ (both give %s): the receiver faces the internet and must not hold the controllers' RBAC" (index $names 0)) }}
{{- end }}
{{- end }}

{{/*
Fails when the release namespace is one of Kubernetes' own (kube-*): the controllers may write
Secrets and ConfigMaps in the release namespace (the admission policy's own namespaces), and
kube-system's hold the cluster's credentials. Renders nothing.
*/}}
{{- define "kooper.checkReleaseNamespace" -}}
{{- if hasPrefix "kube-" .Release.Namespace }}
{{- fail (printf "kooper must not be installed in %q: its controllers may write Secrets in the release namespace, and kube-* namespaces are Kubernetes' own; install it in a namespace of its own (helm install -n kooper-system --create-namespace)" .Release.Namespace) }}
{{- end }}
{{- end }}

{{/*
The directory namespace, where the receiver writes joint-operation directory shards
(--directory-namespace): directoryNamespace.name, else <release namespace>-directory. It
must not be the release namespace: the receiver may write Secrets there (the shards), and
must never write where the keys Secrets and the products ConfigMap live. The default is
"<release namespace>-directory" cut to 63 characters (a namespace name), as it always was: a
release namespace of 54 to 61 characters gives a shortened suffix ("-dire..."), kept so that no
upgrade moves an installation's shards. Only where that cut gives back the release namespace
itself (62 or 63 characters, which could not install before) is the release namespace cut to
53 characters so that all of "-directory" fits, or to 52 or 51 if that too would be itself (a
cut that ends in a hyphen loses it, so two cuts can give the same name).
A name given must not be default nor in the kube- prefix, which Kubernetes reserves for its own
namespaces (kube-system, kube-public, kube-node-lease): the receiver, which faces the internet,
gets a Role there to read and write Secrets, and the admission policy lets the controllers write
Secrets and ConfigMaps there; with directoryNamespace.create false the chart would not even see
that it is not kooper's. The default, <release namespace>-directory, is kooper's own.
*/}}
{{- define "kooper.directoryNamespace" -}}
{{- include "kooper.checkReleaseNamespace" . }}
{{- $default := printf "%s-directory" .Release.Namespace | trunc 63 | trimSuffix "-" }}
{{- range $cut := list 53 52 51 }}
{{- if eq $default $.Release.Namespace }}
{{- $default = printf "%s-directory" ($.Release.Namespace | trunc $cut | trimSuffix "-") }}
{{- end }}
{{- end }}
{{- $name := .Values.directoryNamespace.name }}
{{- if eq $name "default" }}
{{- fail "directoryNamespace.name must not be \"default\": the receiver may write Secrets in the directory namespace, and default is shared by the whole cluster" }}
{{- end }}
{{- if hasPrefix "kube-" $name }}
{{- fail (printf "directoryNamespace.name must not be %q: the receiver may write Secrets in the directory namespace, and kube-* namespaces are Kubernetes' own" $name) }}
{{- end }}
{{- $ns := default $default $name }}
{{- if eq $ns .Release.Namespace }}
{{- fail "directoryNamespace.name must differ from the release namespace: the receiver writes Secrets in it" }}
{{- end }}
{{- $ns }}
{{- end }}

{{/*
kooper's own namespaces, where the controllers may write besides tenant
namespaces (the products' keys Secrets, the products ConfigMap, licence
Secrets, credentials copies, tombstones, the leader-election Lease; directory
shards), as a JSON list, which is also a CEL list literal.
*/}}
{{- define "kooper.ownNamespaces" -}}
{{- list .Release.Namespace (include "kooper.directoryNamespace" .) | toJson }}
{{- end }}

{{/*
A CEL expression: whether the Namespace that the CEL expression in the
argument (object, oldObject or namespaceObject) evaluates to is a tenant
namespace. It carries the labels the tenant controller puts on every tenant
namespace (internal/tenantobjects, Labels) and selects them by.
*/}}
{{- define "kooper.cel.isTenantNamespace" -}}
{{ . }} != null && has({{ . }}.metadata.labels)
  && 'app.kubernetes.io/managed-by' in {{ . }}.metadata.labels
  && {{ . }}.metadata.labels['app.kubernetes.io/managed-by'] == 'kooper'
  && 'saas.kooper.io/instance-id' in {{ . }}.metadata.labels
{{- end }}

{{/* Container image reference: repository:tag, or repository@digest. */}}
{{- define "kooper.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Secret holding the receiver Ingress's TLS certificate. */}}
{{- define "kooper.ingressTLSSecret" -}}
{{- default (printf "%s-receiver-tls" (include "kooper.fullname" .)) .Values.ingress.tls.secretName }}
{{- end }}

{{/* Name of the ConfigMap holding the product manifest the operator applies. */}}
{{- define "kooper.productsConfigMap" -}}
{{ include "kooper.fullname" . }}-products
{{- end }}

{{/*
The metrics port of both components: https-metrics on 8443 when metrics.secure (HTTPS, the
API server's authentication and authorisation in front), else http-metrics on 8080.
*/}}
{{- define "kooper.metricsPortName" -}}
{{- include "kooper.required" (list . "metrics.secure") }}
{{- if .Values.metrics.secure }}https-metrics{{ else }}http-metrics{{ end }}
{{- end }}

{{- define "kooper.metricsPort" -}}
{{- include "kooper.required" (list . "metrics.secure") }}
{{- if .Values.metrics.secure }}8443{{ else }}8080{{ end }}
{{- end }}
