{{/*
The design's call graph (docs/architecture.md): who calls whom over HTTP, and which database
each service owns. It is not configuration: the NetworkPolicies are generated from it, so a
call the design does not make is a call the cluster refuses.
  - the gateway calls the three services (routes, and user-service's JWKS);
  - order-service prices orders with product-service;
  - product-service's reconciler reads order statuses from order-service
    (GET /internal/orders/{id}/status);
  - every service that checks tokens fetches the JWKS from user-service (user-service too:
    an instance asks its peers for a key it does not hold).
*/}}
{{- define "tracecart.topology" -}}
gateway:
  calls: [user-service, product-service, order-service]
  database: ""
user-service:
  calls: [user-service]
  database: users
product-service:
  calls: [order-service, user-service]
  database: products
order-service:
  calls: [product-service, user-service]
  database: orders
{{- end }}

{{/* The name of a component's objects: "<release>-<component>". */}}
{{- define "tracecart.fullname" -}}
{{- printf "%s-%s" .root.Release.Name .name | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{/* The labels that select a component's pods. */}}
{{- define "tracecart.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end }}

{{/* Every object's labels. */}}
{{- define "tracecart.labels" -}}
{{ include "tracecart.selectorLabels" . }}
app.kubernetes.io/part-of: tracecart
app.kubernetes.io/version: {{ .root.Values.image.tag | default .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end }}

{{/* Labels of the development dependencies, which say what they are. */}}
{{- define "tracecart.devLabels" -}}
{{ include "tracecart.labels" . }}
app.kubernetes.io/component: dev-dependency
tracecart.dev/not-for-production: "true"
{{- end }}

{{/* The Secret the chart generates when dev.throwawaySecrets is on. */}}
{{- define "tracecart.throwawaySecretName" -}}
{{- printf "%s-dev-throwaway" .Release.Name -}}
{{- end }}

{{/*
A service's settings: the defaults merged under its own block. Returns YAML; use with fromYaml.
*/}}
{{- define "tracecart.serviceValues" -}}
{{- $own := index .root.Values.services .name | default dict -}}
{{- toYaml (mergeOverwrite (deepCopy .root.Values.defaults) (deepCopy $own)) -}}
{{- end }}

{{/*
GOMEMLIMIT from the memory limit: goMemLimitPercent of it, in MiB. The limit must be written in
Mi or Gi so the arithmetic stays exact.
*/}}
{{- define "tracecart.goMemLimit" -}}
{{- $limit := toString .limit -}}
{{- if not (regexMatch "^[0-9]+(Mi|Gi)$" $limit) -}}
{{- fail (printf "services.%s.resources.limits.memory must be set in Mi or Gi (got %q): GOMEMLIMIT is derived from it" .name $limit) -}}
{{- end -}}
{{- $mib := regexFind "^[0-9]+" $limit | atoi -}}
{{- if hasSuffix "Gi" $limit }}{{ $mib = mul $mib 1024 }}{{ end -}}
{{- printf "%dMiB" (div (mul $mib .percent) 100) -}}
{{- end }}

{{/*
A secretKeyRef for one of a service's secrets: its own Secret when named, else the throwaway
one when the dev profile allows it, else the render fails with what to set.
Arguments: root, what (for the message), secretName, secretKey, throwawayKey, allowThrowaway.
*/}}
{{- define "tracecart.secretRef" -}}
{{- if .secretName -}}
secretKeyRef: {name: {{ .secretName | quote }}, key: {{ .secretKey | quote }}}
{{- else if .allowThrowaway -}}
secretKeyRef: {name: {{ include "tracecart.throwawaySecretName" .root | quote }}, key: {{ .throwawayKey | quote }}}
{{- else -}}
{{- fail (printf "%s: no Secret named. Create one and set its name (docs/kubernetes.md, \"Secrets\"), or, for a throwaway development install only, use values-dev.yaml (dev.throwawaySecrets)" .what) -}}
{{- end -}}
{{- end }}

{{/*
The NetworkPolicy peers of a dependency (postgres, kafka, consul, otlp): the chart's own pods
when the dev profile runs it (Jaeger stands in for the OTLP collector),
else what networkPolicy.<dependency>.to says (empty: any destination on its ports).
*/}}
{{- define "tracecart.dependencyPeers" -}}
{{- $devKey := ternary "jaeger" .dependency (eq .dependency "otlp") -}}
{{- $dev := index .root.Values.dev $devKey -}}
{{- if $dev.enabled -}}
- podSelector:
    matchLabels:
      {{- include "tracecart.selectorLabels" (dict "root" .root "name" (printf "dev-%s" $devKey)) | nindent 6 }}
{{- else -}}
{{- with (index .root.Values.networkPolicy .dependency).to }}{{ toYaml . }}{{ end -}}
{{- end -}}
{{- end }}

{{/* Fails unless a dependency's address is set or the dev profile runs it. */}}
{{- define "tracecart.require" -}}
{{- if not .value -}}
{{- fail (printf "%s is not set: point it at your %s, or, for development only, set dev.%s.enabled (values-dev.yaml)" .key .what .dependency) -}}
{{- end -}}
{{- .value -}}
{{- end }}
