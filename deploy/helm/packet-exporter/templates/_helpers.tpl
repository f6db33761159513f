{{/* Whether the release runs the Collector (mode collector) rather than the agent. */}}
{{- define "packet-exporter.collector" -}}
{{- if eq .Values.mode "collector" }}true{{ end -}}
{{- end -}}

{{/* Whether the release removes what the agent left in the nodes' kernels (mode uninstall). */}}
{{- define "packet-exporter.uninstall" -}}
{{- if eq .Values.mode "uninstall" }}true{{ end -}}
{{- end -}}

{{/* The name of what runs: the chart's, otelcol-<chart> for the Collector, <chart>-uninstall for the uninstaller. */}}
{{- define "packet-exporter.name" -}}
{{- if include "packet-exporter.collector" . }}otelcol-{{ end }}{{ .Chart.Name -}}
{{- if include "packet-exporter.uninstall" . }}-uninstall{{ end -}}
{{- end -}}

{{/* The name of the release's objects: the release's name, with the chart's when it lacks it, and otelcol- before it for the Collector. */}}
{{- define "packet-exporter.fullname" -}}
{{- $base := .Release.Name -}}
{{- if not (contains .Chart.Name .Release.Name) -}}
{{- $base = printf "%s-%s" .Release.Name .Chart.Name -}}
{{- end -}}
{{- if include "packet-exporter.collector" . -}}
{{- $base = printf "otelcol-%s" $base -}}
{{- end -}}
{{- if include "packet-exporter.uninstall" . -}}
{{- $base = printf "%s-uninstall" ($base | trunc 53 | trimSuffix "-") -}}
{{- end -}}
{{- $base | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The labels that select the release's pods. */}}
{{- define "packet-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "packet-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The labels of every object. */}}
{{- define "packet-exporter.labels" -}}
{{ include "packet-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The image of what runs: repository@digest, or repository:tag (the agent's: the appVersion by default). */}}
{{- define "packet-exporter.image" -}}
{{- $image := .Values.image -}}
{{- if include "packet-exporter.collector" . -}}
{{- $image = .Values.collector.image -}}
{{- end -}}
{{- if $image.digest -}}
{{ $image.repository }}@{{ $image.digest }}
{{- else -}}
{{ $image.repository }}:{{ $image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/* The port of the metrics: the agent's (port) or the Collector's Prometheus exporter's. */}}
{{- define "packet-exporter.port" -}}
{{- if include "packet-exporter.collector" . }}{{ .Values.collector.port }}{{ else }}{{ .Values.port }}{{ end -}}
{{- end -}}

{{/* The configuration file of what runs: the agent's (config, listening on port), or the Collector's
(collector.config with the packetexporter receiver made of config's counting keys, the keys the
receiver takes from the agent's configuration, and a Prometheus exporter on collector.port). */}}
{{- define "packet-exporter.config" -}}
{{- if include "packet-exporter.collector" . -}}
{{- $receiver := pick (deepCopy .Values.config) "interfaces" "egress" "ingress" "xdp" "limits" "drops" "attribution" "conventions" "persistence" "events" "flows" "metrics" -}}
{{- $_ := set $receiver "collection_interval" .Values.collector.collectionInterval -}}
{{- $config := deepCopy .Values.collector.config -}}
{{- $_ = mustMergeOverwrite $config (dict "receivers" (dict "packetexporter" $receiver) "exporters" (dict "prometheus" (dict "endpoint" (printf "0.0.0.0:%v" .Values.collector.port)))) -}}
{{- toYaml $config -}}
{{- else -}}
{{- $config := deepCopy .Values.config -}}
{{- $_ := mustMergeOverwrite $config (dict "prometheus" (dict "listen_address" (printf ":%v" .Values.port))) -}}
{{- toYaml $config -}}
{{- end -}}
{{- end -}}

{{/* Where the configuration file is mounted. */}}
{{- define "packet-exporter.configDir" -}}
/etc/{{ include "packet-exporter.name" . }}
{{- end -}}
