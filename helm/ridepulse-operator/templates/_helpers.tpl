{{- define "ridepulse.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ridepulse.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "ridepulse.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- /* The namespaces watched, comma-separated: the list given, or else the release's own. */ -}}
{{- define "ridepulse.watchNamespaces" -}}
{{- if .Values.watchNamespaces -}}
{{- .Values.watchNamespaces | uniq | join "," -}}
{{- else -}}
{{- .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{- /* A pod spec running one of the chart's hooks (operator/src/chart-hooks.ts) in the operator's image. Args: root context, command args, extra env. */ -}}
{{- define "ridepulse.hookPodSpec" -}}
{{- $ := index . 0 -}}
serviceAccountName: {{ include "ridepulse.serviceAccountName" $ }}
restartPolicy: Never
{{- with $.Values.imagePullSecrets }}
imagePullSecrets: {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  seccompProfile: { type: RuntimeDefault }
containers:
  - name: hook
    image: "{{ $.Values.image.repository }}:{{ $.Values.image.tag | default $.Chart.AppVersion }}"
    imagePullPolicy: {{ $.Values.image.pullPolicy }}
    command: ["node", "/app/operator/dist/chart-hooks.js"]
    args: {{- toJson (index . 1) | nindent 6 }}
    env: {{- toJson (index . 2) | nindent 6 }}
    resources: { requests: { cpu: 10m, memory: 64Mi }, limits: { memory: 128Mi } }
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      runAsNonRoot: true
      capabilities: { drop: [ALL] }
{{- end -}}

{{- define "ridepulse.serviceAccountName" -}}
{{- default (include "ridepulse.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}
