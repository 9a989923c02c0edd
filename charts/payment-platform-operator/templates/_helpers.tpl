{{- define "payplat.fullname" -}}
{{- default "payplat-operator" .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "payplat.selectorLabels" -}}
app.kubernetes.io/name: payment-platform-operator
app.kubernetes.io/component: operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "payplat.labels" -}}
{{ include "payplat.selectorLabels" . }}
app.kubernetes.io/part-of: payplat
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "payplat.serviceAccountName" -}}
{{- default (include "payplat.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "payplat.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}
{{- end -}}

{{/* Namespaces the operator watches with watchScope=namespace (JSON list). */}}
{{- define "payplat.watchNamespaces" -}}
{{- if .Values.watchNamespaces -}}
{{ toJson .Values.watchNamespaces }}
{{- else -}}
{{ toJson (list .Release.Namespace) }}
{{- end -}}
{{- end -}}

{{/* The verbs on PaymentPlatforms and Events, shared by the namespaced Role and the ClusterRole. */}}
{{- define "payplat.platformRules" -}}
- apiGroups: [payplat.io]
  resources: [paymentplatforms]
  verbs: [get, list, watch, patch]
- apiGroups: [payplat.io]
  resources: [paymentplatforms/status]
  verbs: [get, patch]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
# Change control's readable plans: created, and deleted by name with a UID precondition
# (only a ConfigMap the operator created); never read, listed or changed.
- apiGroups: [""]
  resources: [configmaps]
  verbs: [create, delete]
{{- end -}}

{{- define "payplat.secretRules" -}}
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
{{- end -}}
