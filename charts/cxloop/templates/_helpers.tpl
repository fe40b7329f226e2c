{{/* Name of the chart, overridable. */}}
{{- define "cxloop.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Prefix of all object names: the release name when it already contains the
chart's name (release "cxloop" gives cxloop-controller-manager, as
`make deploy` does), <release>-<chart> otherwise.
*/}}
{{- define "cxloop.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "cxloop.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "cxloop.labels" -}}
helm.sh/chart: {{ include "cxloop.chart" . }}
{{ include "cxloop.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the manager's pods. */}}
{{- define "cxloop.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cxloop.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "cxloop.managerSelectorLabels" -}}
{{ include "cxloop.selectorLabels" . }}
control-plane: controller-manager
{{- end }}

{{/* The manager's ServiceAccount. */}}
{{- define "cxloop.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-controller-manager" (include "cxloop.fullname" .)) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The manager's image; collectors use it too unless collector.image is set. */}}
{{- define "cxloop.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "cxloop.collectorImage" -}}
{{- default (include "cxloop.image" .) .Values.collector.image }}
{{- end }}

{{/*
Renders the objects of files kept in sync with config/ by `make chart-crds`
(one or more YAML documents per file): names get the release's prefix, the
chart's labels are added (labels of the source, such as aggregation labels,
are kept), a binding's policyName follows its policy, and the manager's user
name of `make deploy` becomes the release's.
Call with (dict "root" $ "files" (list "files/a.yaml" ...)).
*/}}
{{- define "cxloop.syncedObjects" -}}
{{- $root := .root }}
{{- $prefix := include "cxloop.fullname" $root }}
{{- $labels := include "cxloop.labels" $root | fromYaml }}
{{- $managerUser := printf "system:serviceaccount:%s:%s" $root.Release.Namespace (include "cxloop.serviceAccountName" $root) }}
{{- range $path := .files }}
{{- range $raw := splitList "\n---\n" ($root.Files.Get $path) }}
{{- $obj := fromYaml $raw }}
{{- if $obj.kind }}
{{- $_ := set $obj.metadata "name" (printf "%s-%s" $prefix $obj.metadata.name) }}
{{- $_ := set $obj.metadata "labels" (merge (deepCopy $labels) (default dict $obj.metadata.labels)) }}
{{- if and $obj.spec (hasKey $obj.spec "policyName") }}
{{- $_ := set $obj.spec "policyName" (printf "%s-%s" $prefix $obj.spec.policyName) }}
{{- end }}
---
{{ toYaml $obj | replace "system:serviceaccount:cxloop-system:cxloop-controller-manager" $managerUser }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
