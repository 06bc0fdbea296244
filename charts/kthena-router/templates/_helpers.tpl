{{/* InferencePool mode (GIE's inferencepool chart values): on when the pool selects model servers. */}}
{{- define "kthena-router.poolMode" -}}
{{- if ((.Values.inferencePool).modelServers).matchLabels }}true{{ end }}
{{- end }}

{{/* Object name: <release>-epp in InferencePool mode (GIE's name for the picker), else the router's own name. */}}
{{- define "kthena-router.name" -}}
{{- if include "kthena-router.poolMode" . }}
{{- printf "%s-epp" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else if .Values.nameOverride }}
{{- .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains "kthena-router" .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-kthena-router" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "kthena-router.selectorLabels" -}}
app.kubernetes.io/name: kthena-router
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kthena-router.labels" -}}
{{ include "kthena-router.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/* GIE picker flags as a dict, whether given as a map (current chart) or a list of {name, value} (older ones). */}}
{{- define "kthena-router.gieFlags" -}}
{{- $flags := dict }}
{{- $given := (.Values.inferenceExtension).flags }}
{{- if kindIs "slice" $given }}
{{- range $given }}{{ $_ := set $flags (toString .name) (toString .value) }}{{ end }}
{{- else if $given }}
{{- range $k, $v := $given }}{{ $_ := set $flags $k (toString $v) }}{{ end }}
{{- end }}
{{- toJson $flags }}
{{- end }}

{{/* The GIE picker flags the router has; the others are ignored (NOTES lists them). */}}
{{- define "kthena-router.translatedFlags" -}}
secure-serving,cert-path,enable-cert-reload,grpc-port,grpc-health-port,metrics-port
{{- end }}

{{/* Effective settings of both modes, as JSON: image, pullPolicy, replicas, ports, TLS, leader election. */}}
{{- define "kthena-router.settings" -}}
{{- $pool := include "kthena-router.poolMode" . }}
{{- $ie := .Values.inferenceExtension | default dict }}
{{- $flags := include "kthena-router.gieFlags" . | fromJson }}
{{- $s := dict
  "image" (printf "%s:%s" .Values.image.repository (toString .Values.image.tag))
  "pullPolicy" .Values.image.pullPolicy
  "replicas" .Values.replicas
  "grpcPort" .Values.ports.grpc
  "healthPort" .Values.ports.health
  "metricsPort" .Values.ports.metrics
  "httpPort" .Values.ports.http
  "secure" .Values.tls.secureServing
  "certPath" ""
  "certReload" .Values.tls.enableCertReload
  "leaderElect" .Values.leaderElection }}
{{- if .Values.tls.certSecretName }}{{ $_ := set $s "certPath" "/etc/kthena/tls" }}{{ end }}
{{- if $pool }}
{{- with $ie.image }}
{{- $_ := set $s "image" (printf "%s/%s:%s" .hub .name (toString .tag)) }}
{{- with .pullPolicy }}{{ $_ := set $s "pullPolicy" . }}{{ end }}
{{- end }}
{{- $_ := set $s "replicas" ($ie.replicas | default 1) }}
{{- $_ := set $s "grpcPort" ($ie.extProcPort | default 9002) }}
{{- $_ := set $s "leaderElect" ($ie.enableLeaderElection | default false) }}
{{- /* GIE's picker serves TLS unless told otherwise, and gateways set up by its chart expect it. */}}
{{- $_ := set $s "secure" (ne (get $flags "secure-serving" | default "true") "false") }}
{{- with get $flags "cert-path" }}{{ $_ := set $s "certPath" . }}{{ end }}
{{- with get $flags "enable-cert-reload" }}{{ $_ := set $s "certReload" (eq . "true") }}{{ end }}
{{- with get $flags "grpc-port" }}{{ $_ := set $s "grpcPort" (atoi .) }}{{ end }}
{{- with get $flags "grpc-health-port" }}{{ $_ := set $s "healthPort" (atoi .) }}{{ end }}
{{- with get $flags "metrics-port" }}{{ $_ := set $s "metricsPort" (atoi .) }}{{ end }}
{{- end }}
{{- toJson $s }}
{{- end }}

{{/* The router configuration, with the Redis address filled in when the chart provides Redis. */}}
{{- define "kthena-router.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) }}
{{- $addr := .Values.redis.address }}
{{- if and (not $addr) .Values.redis.enabled }}
{{- $addr = printf "%s-redis.%s.svc:6379" (include "kthena-router.name" .) .Release.Namespace }}
{{- end }}
{{- if $addr }}
{{- $rl := get $cfg "rateLimit" | default dict }}
{{- $redis := get $rl "redis" | default dict }}
{{- if not (get $redis "address") }}
{{- $_ := set $redis "address" $addr }}
{{- $_ := set $rl "redis" $redis }}
{{- $_ := set $cfg "rateLimit" $rl }}
{{- end }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{- define "kthena-router.validate" -}}
{{- $providers := list "none" "gke" "istio" "envoy-gateway" "kgateway" }}
{{- if not (has (.Values.provider.name | default "none") $providers) }}
{{- fail (printf "provider.name must be one of %s, got %q" (join ", " $providers) .Values.provider.name) }}
{{- end }}
{{- if not (has .Values.resourceSource.type (list "kubernetes" "files")) }}
{{- fail (printf "resourceSource.type must be kubernetes or files, got %q" .Values.resourceSource.type) }}
{{- end }}
{{- with (.Values.inferencePool).apiVersion }}
{{- if ne . "inference.networking.k8s.io/v1" }}
{{- fail "inferencePool.apiVersion: only inference.networking.k8s.io/v1 is rendered (the router also reads v1alpha2 pools: --inferencepool-v1alpha2)" }}
{{- end }}
{{- end }}
{{- end }}
