{{- define "flagwright.name" -}}flagwright{{- end -}}

{{- define "flagwright.fullname" -}}flagwright-operator{{- end -}}

{{- define "flagwright.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default "flagwright-operator" .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "flagwright.selectorLabels" -}}
app.kubernetes.io/name: flagwright
app.kubernetes.io/component: operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "flagwright.labels" -}}
{{ include "flagwright.selectorLabels" . }}
app.kubernetes.io/part-of: flagwright
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "flagwright.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}
{{- end -}}

{{- define "flagwright.webhookName" -}}{{ .Release.Name }}-flagwright-injector{{- end -}}
{{- define "flagwright.validationName" -}}{{ .Release.Name }}-flagwright-validation{{- end -}}
{{- /* The one admission server's certificate Secret (both webhook configurations trust its CA). */ -}}
{{- define "flagwright.admissionSecretName" -}}{{ .Release.Name }}-flagwright-webhook-tls{{- end -}}
