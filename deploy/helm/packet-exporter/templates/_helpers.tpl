{{/* The name of the release's objects: the release's name, with the chart's when it lacks it. */}}
{{- define "packet-exporter.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The labels that select the release's pods. */}}
{{- define "packet-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The labels of every object. */}}
{{- define "packet-exporter.labels" -}}
{{ include "packet-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The image: repository@digest, or repository:tag (the appVersion by default). */}}
{{- define "packet-exporter.image" -}}
{{- with .Values.image -}}
{{- if .digest -}}
{{ .repository }}@{{ .digest }}
{{- else -}}
{{ .repository }}:{{ .tag | default $.Chart.AppVersion }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The agent's configuration: .Values.config, listening on .Values.port. */}}
{{- define "packet-exporter.config" -}}
{{- $config := deepCopy .Values.config -}}
{{- $_ := mustMergeOverwrite $config (dict "prometheus" (dict "listen_address" (printf ":%v" .Values.port))) -}}
{{- toYaml $config -}}
{{- end -}}
