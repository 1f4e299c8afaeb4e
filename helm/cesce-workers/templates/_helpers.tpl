{{/* The chart's name, at most 63 characters. */}}
{{- define "cesce-workers.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name; a worker's resources append its name (so at most 40 characters here). */}}
{{- define "cesce-workers.fullname" -}}
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

{{/*
The workers: values key -> the `cesce-worker run` name, its input topic (the lag KEDA scales on) and,
for the change workers re-keyed by debtor, the internal topic their handling group reads (the group
named by WORKER_GROUP_ID, default cesce-<worker>, while <group>.rekey reads the input).
*/}}
{{- define "cesce-workers.catalog" -}}
invoices:
  command: invoices
  input: {{ .Values.topics.invoices | quote }}
  {{- if not .Values.workers.invoices.keyedByDebtor }}
  byDebtor: {{ .Values.topics.invoicesByDebtor | quote }}
  {{- end }}
creditRequests:
  command: credit-requests
  input: {{ .Values.topics.creditRequests | quote }}
  {{- if not .Values.workers.creditRequests.keyedByDebtor }}
  byDebtor: {{ .Values.topics.creditRequestsByDebtor | quote }}
  {{- end }}
nonPayments:
  command: non-payments
  input: {{ .Values.topics.nonPayments | quote }}
  {{- if not .Values.workers.nonPayments.keyedByDebtor }}
  byDebtor: {{ .Values.topics.nonPaymentsByDebtor | quote }}
  {{- end }}
riskPoller:
  command: risk-poller
  input: {{ .Values.topics.riskSchedule | quote }}
salesFollowup:
  command: sales-followup
  input: {{ .Values.topics.salesFollowupSchedule | quote }}
{{- end }}

{{/* The enabled workers: a map from values key to {command, input, values}. */}}
{{- define "cesce-workers.enabled" -}}
{{- $catalog := include "cesce-workers.catalog" . | fromYaml }}
{{- $enabled := dict }}
{{- range $key, $entry := $catalog }}
{{- $worker := index $.Values.workers $key }}
{{- if $worker.enabled }}
{{- $_ := set $enabled $key $entry }}
{{- end }}
{{- end }}
{{- toYaml $enabled }}
{{- end }}

{{- define "cesce-workers.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cesce-workers.labels" -}}
helm.sh/chart: {{ include "cesce-workers.chart" . }}
app.kubernetes.io/name: {{ include "cesce-workers.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cesce-workers
{{- end }}

{{/* Selector labels of one worker: pass (dict "root" $ "command" "invoices"). */}}
{{- define "cesce-workers.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cesce-workers.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .command }}
{{- end }}

{{- define "cesce-workers.workerLabels" -}}
{{ include "cesce-workers.labels" .root }}
app.kubernetes.io/component: {{ .command }}
{{- end }}

{{- define "cesce-workers.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cesce-workers.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "cesce-workers.secretName" -}}
{{- default (printf "%s-credentials" (include "cesce-workers.fullname" .)) .Values.credentials.existingSecret }}
{{- end }}

{{- define "cesce-workers.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The consumer group of a worker: its WORKER_GROUP_ID if set, else cesce-<command>. */}}
{{- define "cesce-workers.group" -}}
{{- $env := merge (dict) (.worker.env | default dict) (.root.Values.env | default dict) }}
{{- default (printf "cesce-%s" .command) (get $env "WORKER_GROUP_ID") }}
{{- end }}

{{/* A value as an environment or config string: whole numbers without an exponent (2592000000, not 2.592e+09). */}}
{{- define "cesce-workers.string" -}}
{{- if and (kindIs "float64" .) (eq (float64 (int64 .)) .) }}
{{- int64 . | toString }}
{{- else }}
{{- toString . }}
{{- end }}
{{- end }}

{{/* Every topic the enabled workers use, as {name: class}: input, result, deadLetter or state (compacted). */}}
{{- define "cesce-workers.topics" -}}
{{- $t := .Values.topics }}
{{- $w := .Values.workers }}
{{- $topics := dict $t.dlqReplays "state" }}
{{- if $w.invoices.enabled }}
{{- $_ := set $topics $t.invoices "input" }}
{{- $_ := set $topics $t.saleResults "result" }}
{{- $_ := set $topics (printf "%s%s" $t.invoices $t.dlqSuffix) "deadLetter" }}
{{- $_ := set $topics $t.invoicesRows "state" }}
{{- if not $w.invoices.keyedByDebtor }}
{{- $_ := set $topics $t.invoicesByDebtor "input" }}
{{- end }}
{{- end }}
{{- if $w.creditRequests.enabled }}
{{- $_ := set $topics $t.creditRequests "input" }}
{{- $_ := set $topics $t.classificationResults "result" }}
{{- $_ := set $topics $t.classificationFollowups "state" }}
{{- $_ := set $topics (printf "%s%s" $t.creditRequests $t.dlqSuffix) "deadLetter" }}
{{- $_ := set $topics (printf "%s%s" $t.classificationFollowups $t.dlqSuffix) "deadLetter" }}
{{- $_ := set $topics $t.creditRequestsRows "state" }}
{{- if not $w.creditRequests.keyedByDebtor }}
{{- $_ := set $topics $t.creditRequestsByDebtor "input" }}
{{- end }}
{{- end }}
{{- if $w.nonPayments.enabled }}
{{- $_ := set $topics $t.nonPayments "input" }}
{{- $_ := set $topics $t.nonPaymentResults "result" }}
{{- $_ := set $topics $t.claimUpdates "result" }}
{{- $_ := set $topics $t.claimFiles "state" }}
{{- $_ := set $topics (printf "%s%s" $t.nonPayments $t.dlqSuffix) "deadLetter" }}
{{- $_ := set $topics (printf "%s%s" $t.claimFiles $t.dlqSuffix) "deadLetter" }}
{{- $_ := set $topics $t.nonPaymentsRows "state" }}
{{- if not $w.nonPayments.keyedByDebtor }}
{{- $_ := set $topics $t.nonPaymentsByDebtor "input" }}
{{- end }}
{{- end }}
{{- if $w.riskPoller.enabled }}
{{- $_ := set $topics $t.riskChanges "result" }}
{{- $_ := set $topics $t.riskLimits "state" }}
{{- $_ := set $topics $t.riskSchedule "state" }}
{{- $_ := set $topics (printf "%s%s" $t.riskSchedule $t.dlqSuffix) "deadLetter" }}
{{- end }}
{{- if $w.salesFollowup.enabled }}
{{- $_ := set $topics $t.saleChanges "result" }}
{{- $_ := set $topics $t.saleStates "state" }}
{{- $_ := set $topics $t.salesFollowupSchedule "state" }}
{{- $_ := set $topics (printf "%s%s" $t.salesFollowupSchedule $t.dlqSuffix) "deadLetter" }}
{{- end }}
{{- toYaml $topics }}
{{- end }}
