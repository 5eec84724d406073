{{/* The labels of every object of one tenant's release. kooper adds its own. */}}
{{- define "crm-suite.labels" -}}
app.kubernetes.io/name: crm-suite
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The selector labels of one part. */}}
{{- define "crm-suite.selector" -}}
app.kubernetes.io/name: crm-suite
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
A container that Pod Security "restricted" admits: kooper's tenant namespaces enforce it, so
a pod without these settings is refused.
*/}}
{{- define "crm-suite.containerSecurity" -}}
securityContext:
  allowPrivilegeEscalation: false
  runAsNonRoot: true
  runAsUser: 65532
  capabilities:
    drop: ["ALL"]
  seccompProfile:
    type: RuntimeDefault
{{- end }}
