{{/* Names and labels. */}}
{{- define "zt-authz.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "zt-authz.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "zt-authz.selectorLabels" -}}
app.kubernetes.io/name: {{ include "zt-authz.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "zt-authz.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "zt-authz.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: zt-authz
{{- include "zt-authz.commonLabels" . }}
{{- end }}

{{/*
commonLabels, on every object (a leading newline, to follow other labels). The chart's own
app.kubernetes.io/* and helm.sh/* labels are refused: templates add more of them after these
(component), and a duplicate key would be rejected or silently win, depending on the tool.
*/}}
{{- define "zt-authz.commonLabels" -}}
{{- range $k, $v := .Values.commonLabels }}
{{- if or (hasPrefix "app.kubernetes.io/" $k) (hasPrefix "helm.sh/" $k) }}
{{- fail (printf "commonLabels: %s is one of the chart's own labels (app.kubernetes.io/*, helm.sh/*); use another key" $k) }}
{{- end }}
{{- end }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels of the `helm test` pod: distinct from the selector labels, so no Service, PDB or HPA counts it. */}}
{{- define "zt-authz.testLabels" -}}
app.kubernetes.io/name: {{ include "zt-authz.name" . }}-test
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: helm-test
{{- end }}

{{- define "zt-authz.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "zt-authz.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "zt-authz.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end }}
{{- end }}

{{/* Service FQDN, as Envoy and Istio address it. */}}
{{- define "zt-authz.serviceFQDN" -}}
{{ include "zt-authz.fullname" . }}.{{ .Release.Namespace }}.svc.{{ .Values.clusterDomain }}
{{- end }}

{{- define "zt-authz.webhookTLSSecret" -}}
{{- default (printf "%s-webhook-tls" (include "zt-authz.fullname" .)) .Values.webhook.tls.existingSecret }}
{{- end }}

{{/* "true" when a ServiceMonitor is rendered: forced, or "auto" and the Prometheus Operator API exists. */}}
{{- define "zt-authz.serviceMonitor" -}}
{{- $e := toString .Values.metrics.serviceMonitor.enabled }}
{{- if or (eq $e "true") (and (eq $e "auto") (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1")) }}true{{ end }}
{{- end }}

{{/* Mount the service-account token only when the Kubernetes API is used (informers, service-account token issuers, signing keys in a Secret). */}}
{{- define "zt-authz.needsApiToken" -}}
{{- $k8s := false }}
{{- if and .Values.config.kubernetes .Values.config.kubernetes.enabled }}{{ $k8s = true }}{{ end }}
{{- range (.Values.config.issuers | default list) }}{{ if .kubernetes }}{{ $k8s = true }}{{ end }}{{ end }}
{{- if and .Values.tokenIssuer.enabled .Values.tokenIssuer.keysSecret.name }}{{ $k8s = true }}{{ end }}
{{- if $k8s }}true{{ end }}
{{- end }}

{{/* The configuration file of the Deployment: values.config + listeners (+ webhook in sidecar mode). */}}
{{- define "zt-authz.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) }}
{{- $server := deepCopy (get $cfg "server" | default dict) }}
{{- $_ := set $server "grpc" (printf "0.0.0.0:%v" .Values.ports.grpc) }}
{{- $_ := set $server "http" (printf "0.0.0.0:%v" .Values.ports.http) }}
{{- $_ := set $server "admin" (printf "0.0.0.0:%v" .Values.ports.admin) }}
{{- if .Values.tls.enabled }}
{{- $_ := required "tls.secretName is required when tls.enabled" .Values.tls.secretName }}
{{- $tls := dict "certFile" "/etc/zt-authz-tls/tls.crt" "keyFile" "/etc/zt-authz-tls/tls.key" "reloadSeconds" .Values.tls.reloadSeconds }}
{{- if .Values.tls.clientCa.enabled }}
{{- $_ := set $tls "clientCaFile" (printf "/etc/zt-authz-client-ca/%s" .Values.tls.clientCa.key) }}
{{- end }}
{{- $_ := set $server "tls" $tls }}
{{- end }}
{{- $_ := set $cfg "server" $server }}
{{- if eq .Values.mode "sidecar" }}
{{- /* Injected pods get prometheus.io/* annotations when the Deployment gets them: no Prometheus Operator (no PodMonitor). */}}
{{- $scrape := and .Values.metrics.scrapeAnnotations (not (include "zt-authz.serviceMonitor" .)) }}
{{- $inject := dict "image" (include "zt-authz.image" .) "imagePullPolicy" .Values.image.pullPolicy "configMap" .Values.sidecar.configMapName "configKey" "config.yaml" "grpcPort" .Values.sidecar.ports.grpc "httpPort" .Values.sidecar.ports.http "adminPort" .Values.sidecar.ports.admin "runAsUser" .Values.runAsUser "env" (.Values.sidecar.extraEnv | default list) "resources" .Values.sidecar.resources "prometheusAnnotations" $scrape "istioExcludeInboundPorts" (.Values.istio.meshExcludeInboundPorts | default list) }}
{{- $_ := set $cfg "webhook" (dict "enabled" true "address" (printf "0.0.0.0:%v" .Values.ports.webhook) "certFile" "/etc/zt-authz-webhook/tls.crt" "keyFile" "/etc/zt-authz-webhook/tls.key" "path" "/inject" "failurePolicy" .Values.webhook.failurePolicy "inject" $inject) }}
{{- end }}
{{- if .Values.tokenIssuer.enabled }}
{{- $_ := set $cfg "tokenIssuer" (include "zt-authz.tokenIssuer" . | fromYaml) }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/*
config.tokenIssuer from the tokenIssuer values. The issuer defaults to the admin port's in-cluster
address: consumers derive <issuer>/.well-known/openid-configuration from it, and the Service
exposes that port. Exactly one key source: the keys in a Secret read through the API, or a Secret
mounted as keysDir.
*/}}
{{- define "zt-authz.tokenIssuer" -}}
{{- $t := .Values.tokenIssuer }}
{{- $secret := ($t.keysSecret | default dict).name }}
{{- $mounted := ($t.keysDir | default dict).secretName }}
{{- if and $secret $mounted }}
{{- fail "tokenIssuer: set keysSecret.name or keysDir.secretName, not both (one source of signing keys)" }}
{{- end }}
{{- if not (or $secret $mounted) }}
{{- fail "tokenIssuer.enabled needs its signing keys: tokenIssuer.keysSecret.name (read through the API) or tokenIssuer.keysDir.secretName (mounted)" }}
{{- end }}
{{- $c := dict "issuer" (default (printf "http://%s:%v" (include "zt-authz.serviceFQDN" .) .Values.ports.admin) $t.issuer) "algorithm" $t.algorithm "ttlSeconds" $t.ttlSeconds "publishLeadSeconds" $t.publishLeadSeconds }}
{{- if $secret }}
{{- $_ := set $c "keysSecret" (dict "name" $secret "key" $t.keysSecret.key) }}
{{- else }}
{{- $_ := set $c "keysDir" $t.keysDir.path }}
{{- end }}
{{- toYaml $c }}
{{- end }}

{{/*
sha256 of the parts of the Deployment's configuration that zt-authz reads only at start (see
RESTART_ONLY in src/snapshot/manager.ts). A change there
changes the pod template, so `helm upgrade` rolls the pods; issuers and policies are left out:
they are hot-reloaded from the ConfigMap without a restart, and so is `audit`.
*/}}
{{- define "zt-authz.restartConfigChecksum" -}}
{{- $cfg := include "zt-authz.config" . | fromYaml }}
{{- pick $cfg "server" "kubernetes" "reload" "log" "webhook" "revocation" "tokenIssuer" | toYaml | sha256sum }}
{{- end }}

{{/* Sidecar mode needs namespaces: the webhook would otherwise match every namespace (every pod CREATE before Kubernetes 1.28) and annotated pods would wait for a ConfigMap that is not rendered. */}}
{{- define "zt-authz.checkSidecarNamespaces" -}}
{{- if and (eq .Values.mode "sidecar") (not .Values.sidecar.namespaces) }}
{{- fail "sidecar.namespaces must list at least one namespace in sidecar mode: the namespaces whose annotated pods get zt-authz (and its ConfigMap)" }}
{{- end }}
{{- end }}

{{/* The sidecar configuration: values.sidecar.config + loopback listeners, Kubernetes integration off. */}}
{{- define "zt-authz.sidecarConfig" -}}
{{- $cfg := deepCopy (.Values.sidecar.config | default dict) }}
{{- $server := deepCopy (get $cfg "server" | default dict) }}
{{- $_ := set $server "grpc" (printf "127.0.0.1:%v" .Values.sidecar.ports.grpc) }}
{{- $_ := set $server "http" (printf "127.0.0.1:%v" .Values.sidecar.ports.http) }}
{{- $_ := set $server "admin" (printf "0.0.0.0:%v" .Values.sidecar.ports.admin) }}
{{- $_ := set $cfg "server" $server }}
{{- $_ := set $cfg "kubernetes" (dict "enabled" false) }}
{{- toYaml $cfg }}
{{- end }}

{{/*
Security contexts of the Deployment: the podSecurityContext / containerSecurityContext values
(whose defaults are the restricted Pod Security Standard) over the ids from `runAsUser`.
*/}}
{{- define "zt-authz.podSecurityContext" -}}
{{- $ids := dict "runAsUser" .Values.runAsUser "runAsGroup" .Values.runAsUser "fsGroup" .Values.runAsUser }}
{{- toYaml (mergeOverwrite $ids (deepCopy (.Values.podSecurityContext | default dict))) }}
{{- end }}

{{- define "zt-authz.deploymentContainerSecurityContext" -}}
{{- $ids := dict "runAsUser" .Values.runAsUser "runAsGroup" .Values.runAsUser }}
{{- toYaml (mergeOverwrite $ids (deepCopy (.Values.containerSecurityContext | default dict))) }}
{{- end }}

{{/* The hardened container security context of the `helm test` pod (restricted Pod Security Standard). */}}
{{- define "zt-authz.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .runAsUser }}
runAsGroup: {{ .runAsUser }}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Istio meshConfig extension provider for zt-authz (Helm values of istiod / IstioOperator spec.meshConfig). */}}
{{- define "zt-authz.istioExtensionProvider" -}}
{{- $sidecar := eq .Values.mode "sidecar" -}}
meshConfig:
  extensionProviders:
    - name: {{ .Values.istio.extensionProvider.name }}
      envoyExtAuthzGrpc:
        service: {{ ternary .Values.istio.localHost (include "zt-authz.serviceFQDN" .) $sidecar }}
        port: {{ ternary .Values.sidecar.ports.grpc .Values.ports.grpc $sidecar }}
        timeout: {{ .Values.istio.extensionProvider.timeout }}
        failOpen: {{ .Values.istio.extensionProvider.failOpen }}
{{- end }}
