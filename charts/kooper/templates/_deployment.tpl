{{/*
One component's Deployment. Both components run the same image with the same pod settings;
they differ in name, replicas, ServiceAccount, arguments and ports. Argument:
  (dict "root" . "component" "receiver"|"controllers" "replicas" N
        ["terminationGracePeriodSeconds" S, default 30] ["strategy" (dict ...), default RollingUpdate]
        "serviceAccountName" NAME "args" (list ...) "ports" (list (dict "name" N "port" P) ...)
        ["volumes" (list VOLUME ...) "volumeMounts" (list VOLUMEMOUNT ...)]
        ["minReadySeconds" S] ["readinessGates" (list (dict "conditionType" T) ...)])
The container's resources are .Values.<component>.resources with the deprecated top-level
resources laid over them: an existing user's setting, whole or partial, applies to both
components as it did when it was laid over the chart's one default.
*/}}
{{- define "kooper.deployment" -}}
{{- $root := .root -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "kooper.fullname" $root }}-{{ .component }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "kooper.componentLabels" . | nindent 4 }}
spec:
  replicas: {{ .replicas }}
  {{- with .minReadySeconds }}
  minReadySeconds: {{ . }}
  {{- end }}
  {{- with .strategy }}
  strategy:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "kooper.componentSelectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "kooper.componentLabels" . | nindent 8 }}
        {{- with $root.Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $root.Values.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      serviceAccountName: {{ .serviceAccountName }}
      {{- with .readinessGates }}
      readinessGates:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.image.pullSecrets }}
      imagePullSecrets:
        {{- range . }}
        - name: {{ . }}
        {{- end }}
      {{- end }}
      {{- with $root.Values.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      {{- with $root.Values.podSecurityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      terminationGracePeriodSeconds: {{ .terminationGracePeriodSeconds | default 30 }}
      containers:
        - name: {{ .component }}
          image: {{ include "kooper.image" $root }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args:
            {{- toYaml (concat .args $root.Values.extraArgs) | nindent 12 }}
          env:
            - name: POD_NAMESPACE
              valueFrom:
                fieldRef:
                  fieldPath: metadata.namespace
            {{- with $root.Values.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          ports:
            {{- range .ports }}
            - name: {{ .name }}
              containerPort: {{ .port }}
              protocol: TCP
            {{- end }}
          livenessProbe:
            httpGet:
              path: /healthz
              port: http-probes
            initialDelaySeconds: 15
            periodSeconds: 20
          readinessProbe:
            httpGet:
              path: /readyz
              port: http-probes
            initialDelaySeconds: 5
            periodSeconds: 10
          {{- include "kooper.required" (list $root (printf "%s.resources" .component)) }}
          {{- $resources := deepCopy ((index $root.Values .component).resources | default dict) }}
          {{- with $root.Values.resources }}
          {{- $resources = mergeOverwrite $resources (deepCopy .) }}
          {{- end }}
          {{- with $resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $root.Values.securityContext }}
          securityContext:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with .volumeMounts }}
          volumeMounts:
            {{- toYaml . | nindent 12 }}
          {{- end }}
      {{- with .volumes }}
      volumes:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if $root.Values.affinity }}
      affinity:
        {{- toYaml $root.Values.affinity | nindent 8 }}
      {{- else }}
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
            - weight: 100
              podAffinityTerm:
                topologyKey: kubernetes.io/hostname
                labelSelector:
                  matchLabels:
                    {{- include "kooper.componentSelectorLabels" . | nindent 20 }}
      {{- end }}
      {{- /* By default a preference for spreading each component across zones: harmless where
      there is one zone, and it keeps a zone outage from taking every receiver replica. */}}
      {{- $defaultSpread := list (dict "maxSkew" 1 "topologyKey" "topology.kubernetes.io/zone" "whenUnsatisfiable" "ScheduleAnyway") }}
      {{- with $root.Values.topologySpreadConstraints | default $defaultSpread }}
      topologySpreadConstraints:
        {{- range . }}
        {{- $constraint := . }}
        {{- if not .labelSelector }}
        {{- $constraint = merge (dict "labelSelector" (dict "matchLabels" (include "kooper.componentSelectorLabels" $ | fromYaml))) . }}
        {{- end }}
        - {{- toYaml $constraint | nindent 10 }}
        {{- end }}
      {{- end }}
      {{- with $root.Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}
