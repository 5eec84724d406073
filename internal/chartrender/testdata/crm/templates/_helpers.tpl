{{- define "crm.labels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/name: {{ .Chart.Name }}
kooper.io/instance-id: {{ .Values.kooper.instanceId | quote }}
{{- end }}
