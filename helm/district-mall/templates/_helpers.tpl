{{/* The mall's names; its node (env, peers, secrets) comes from .Values.topology.districtMall,
generated from the mesh plan. */}}

{{- define "dm.code" -}}
{{- $code := toString (required "district: the district's six-digit code is required" .Values.district) -}}
{{- if not (hasKey .Values.topology.districts $code) -}}
{{- fail (printf "district: %s is not a district of the city (see topology.districts)" $code) -}}
{{- end -}}
{{- $code -}}
{{- end -}}

{{- define "dm.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dm.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{ include "dm.selector" . }}
{{- end -}}

{{- define "dm.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: {{ printf "mall-%s" (include "dm.code" .) }}
{{- end -}}

{{- define "dm.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The Secret of a kind (databases, service-clients): the operator's or the chart's. */}}
{{- define "dm.secretName" -}}
{{- $existing := dict "databases" .root.Values.database.existingSecret "service-clients" .root.Values.credentials.existingSecret -}}
{{- default (printf "%s-%s" (include "dm.fullname" .root) .kind) (get $existing .kind) -}}
{{- end -}}
