{{/* The full name of every object: <release>-kradle, or the release name if it holds "kradle". */}}
{{- define "kradle.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains "kradle" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-kradle" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kradle.selectorLabels" -}}
app.kubernetes.io/name: kradle
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The pods of the Deployment: what the Service, the PDB and the NetworkPolicy select. */}}
{{- define "kradle.serverSelectorLabels" -}}
{{ include "kradle.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end -}}

{{- define "kradle.labels" -}}
{{ include "kradle.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "kradle.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kradle.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "kradle.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The pod security context: non-root, the runtime's default seccomp profile. */}}
{{- define "kradle.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Every container: no privilege escalation, a read-only root, no capabilities. */}}
{{- define "kradle.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop:
    - ALL
{{- end -}}

{{- define "kradle.databaseEnv" -}}
- name: KRADLE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "database.existingSecret is required: a Secret holding the PostgreSQL URL" .Values.database.existingSecret }}
      key: {{ .Values.database.key }}
{{- end -}}

{{/* git-sync's flags, shared by the one-time clone and the sidecar. */}}
{{- define "kradle.gitSyncArgs" -}}
- --repo={{ required "config.repo is required: the git URL of the config repository" .Values.config.repo }}
- --ref={{ .Values.config.ref }}
- --root=/config
- --link=current
- --depth=1
{{- end -}}

{{- define "kradle.gitSyncEnv" -}}
- name: HOME
  value: /tmp
{{- if .Values.config.credentialsSecret }}
- name: GITSYNC_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ .Values.config.credentialsSecret }}
      key: username
- name: GITSYNC_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.config.credentialsSecret }}
      key: password
{{- end }}
{{- end -}}
