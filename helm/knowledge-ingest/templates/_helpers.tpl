{{/* Names, labels and the shared pod/container fragments of the chart. */}}

{{- define "ki.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ki.fullname" -}}
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

{{- define "ki.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ki.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ki.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "ki.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Images: tags are pinned by values.schema.json (no `latest`). */}}
{{- define "ki.image" -}}
{{- printf "%s:%s" .Values.image.repository .Values.image.tag }}
{{- end }}

{{- define "ki.gpuImage" -}}
{{- printf "%s:%s" .Values.image.repository .Values.image.gpuTag }}
{{- end }}

{{/* PREFECT_API_URL: the in-cluster server when enabled, else prefect.apiUrl. */}}
{{- define "ki.prefectApiUrl" -}}
{{- if .Values.server.enabled -}}
{{- printf "http://%s-server.%s.svc:%d/api" (include "ki.fullname" .) .Release.Namespace (int .Values.server.servicePort) }}
{{- else -}}
{{- required "prefect.apiUrl is required unless server.enabled is true" .Values.prefect.apiUrl }}
{{- end }}
{{- end }}

{{- define "ki.rayAddress" -}}
{{- if .Values.settings.rayAddress -}}
{{- .Values.settings.rayAddress }}
{{- else if .Values.ray.enabled -}}
{{- printf "ray://%s-ray-head-svc.%s.svc:10001" (include "ki.fullname" .) .Release.Namespace }}
{{- end }}
{{- end }}

{{/* Env of every Prefect client container (workers, hooks): API URL, key by reference. */}}
{{- define "ki.prefectClientEnv" -}}
- name: PREFECT_API_URL
  value: {{ include "ki.prefectApiUrl" . | quote }}
{{- with .Values.prefect.apiKeySecret }}
{{- if .name }}
- name: PREFECT_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .name | quote }}
      key: {{ .key | quote }}
{{- end }}
{{- end }}
- name: PREFECT_HOME
  value: /tmp/prefect
- name: PREFECT_CLI_PROMPT
  value: "false"
{{- end }}

{{/*
Credential env vars of flow runs as a list of secretKeyRef entries (YAML).
Each entry references an existing Secret; no value ever passes through the chart.
*/}}
{{- define "ki.credentialEnv" -}}
{{- $vars := dict
  "neo4jPassword" "NEO4J_PASSWORD"
  "weaviateApiKey" "WEAVIATE_API_KEY"
  "telemetryDatabaseUrl" "KI_TELEMETRY_DATABASE_URL"
  "awsAccessKeyId" "AWS_ACCESS_KEY_ID"
  "awsSecretAccessKey" "AWS_SECRET_ACCESS_KEY"
  "openalexApiKey" "OPENALEX_API_KEY"
  "ncbiApiKey" "NCBI_API_KEY" }}
{{- $env := list }}
{{- range $field, $name := $vars }}
{{- $ref := index $.Values.credentials $field }}
{{- if $ref.secretName }}
{{- $env = append $env (dict "name" $name "valueFrom" (dict "secretKeyRef" (dict "name" $ref.secretName "key" $ref.key))) }}
{{- end }}
{{- end }}
{{- with .Values.warehouse }}
{{- if eq .type "postgres" }}
{{- $env = append $env (dict "name" "PGPASSWORD" "valueFrom" (dict "secretKeyRef" (dict "name" .postgres.existingSecret "key" .postgres.passwordKey))) }}
{{- end }}
{{- end }}
{{- range .Values.credentials.extraSecretEnv }}
{{- $env = append $env (dict "name" .name "valueFrom" (dict "secretKeyRef" (dict "name" .secretName "key" .key))) }}
{{- end }}
{{- toYaml $env }}
{{- end }}

{{- define "ki.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid | default 10001 }}
runAsGroup: {{ .uid | default 10001 }}
fsGroup: {{ .uid | default 10001 }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "ki.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "ki.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets -}}
imagePullSecrets:
{{- range . }}
  - name: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* The lake volume's claim: lake.persistence.existingClaim, else the chart's own claim when enabled, else empty. */}}
{{- define "ki.lakeClaim" -}}
{{- with .Values.lake.persistence -}}
{{- if .existingClaim -}}
{{- .existingClaim }}
{{- else if .enabled -}}
{{- printf "%s-lake" (include "ki.fullname" $) }}
{{- end }}
{{- end }}
{{- end }}

{{/* Mount path of the lake volume in flow-run pods: a file:// lake's own path, else /var/lib/knowledge-ingest. */}}
{{- define "ki.lakeMountPath" -}}
{{- if hasPrefix "file://" .Values.lake.url -}}
{{- trimPrefix "file://" .Values.lake.url | trimSuffix "/" }}
{{- else -}}
/var/lib/knowledge-ingest
{{- end }}
{{- end }}
