//! The Helm chart `charts/kradle`, rendered without a cluster or a `helm`
//! binary: the templates go through the Go-template subset of `gotemplate.rs`,
//! with the default values and with `ci/full-values.yaml`. Every rendered
//! object must validate against the upstream Kubernetes 1.37 strict schemas,
//! and the stream is pinned by a golden file (`KRADLE_UPDATE=1` rewrites it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod gotemplate;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn chart() -> PathBuf {
    root().join("charts/kradle")
}

fn yaml(text: &str) -> Value {
    let (docs, errors) = kradle_compiler::yaml::parse(text);
    assert!(errors.is_empty(), "{errors:?}\n{text}");
    docs.first()
        .map(|d| d.root.to_json())
        .unwrap_or(Value::Null)
}

/// Helm's merge of a values file over the defaults: maps merge key by key,
/// anything else replaces, and `null` removes the key.
fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                if v.is_null() {
                    b.remove(k);
                } else if let Some(slot) = b.get_mut(k) {
                    merge(slot, v);
                } else {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

fn values(overrides: Option<&str>) -> Value {
    let mut values = yaml(&std::fs::read_to_string(chart().join("values.yaml")).unwrap());
    if let Some(text) = overrides {
        merge(&mut values, &yaml(text));
    }
    values
}

/// Helm checks the merged values against `values.schema.json` before rendering.
fn schema_errors(values: &Value) -> Vec<String> {
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(chart().join("values.schema.json")).unwrap())
            .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    validator
        .iter_errors(values)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect()
}

/// Chart.yaml's fields as Helm exposes them: `.Chart.Name`, `.Chart.AppVersion`.
fn chart_object() -> Value {
    let meta = yaml(&std::fs::read_to_string(chart().join("Chart.yaml")).unwrap());
    let mut out = serde_json::Map::new();
    for (k, v) in meta.as_object().unwrap() {
        let mut key = k.clone();
        key[..1].make_ascii_uppercase();
        out.insert(key, v.clone());
    }
    Value::Object(out)
}

struct Rendered {
    /// `# Source:` headed documents, as `helm template` prints them.
    stream: String,
    objects: Vec<(String, Value)>,
    notes: String,
}

fn render(overrides: Option<&str>) -> Result<Rendered, String> {
    let values = values(overrides);
    let errors = schema_errors(&values);
    if !errors.is_empty() {
        return Err(format!("values.schema.json: {}", errors.join("; ")));
    }
    let mut templates = gotemplate::Templates::default();
    let mut names: Vec<String> = std::fs::read_dir(chart().join("templates"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in &names {
        let text = std::fs::read_to_string(chart().join("templates").join(name)).unwrap();
        templates.add(name, &text)?;
    }
    let root = json!({
        "Values": values,
        "Chart": chart_object(),
        "Release": { "Name": "kradle", "Namespace": "kradle-system", "Service": "Helm",
                     "IsInstall": true, "IsUpgrade": false, "Revision": 1 },
    });
    let mut stream = String::new();
    let mut objects = Vec::new();
    for name in names
        .iter()
        .filter(|n| n.ends_with(".yaml") && !n.starts_with('_'))
    {
        let text = templates.render(name, &root)?;
        for doc in text.split("\n---") {
            if doc.trim().is_empty()
                || doc
                    .lines()
                    .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
            {
                continue;
            }
            let body = doc.trim_start_matches('\n').trim_end();
            stream.push_str(&format!("---\n# Source: kradle/templates/{name}\n{body}\n"));
            objects.push((name.clone(), yaml(body)));
        }
    }
    let notes = templates.render("NOTES.txt", &root)?;
    Ok(Rendered {
        stream,
        objects,
        notes,
    })
}

fn full_values() -> String {
    std::fs::read_to_string(chart().join("ci/full-values.yaml")).unwrap()
}

/// The strict schema of one Kubernetes type, found by its group/version/kind
/// in the upstream `_definitions.json`.
fn upstream_validator(api_version: &str, kind: &str) -> Option<jsonschema::Validator> {
    static DEFINITIONS: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let mut defs = DEFINITIONS
        .get_or_init(|| {
            let path =
                root().join("testdata/upstream/k8s-schemas/v1.37.0-local-strict/_definitions.json");
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
        })
        .clone();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let name = defs["$defs"]
        .as_object()
        .unwrap()
        .iter()
        .find_map(|(name, def)| {
            let gvks = def["x-kubernetes-group-version-kind"].as_array()?;
            gvks.iter()
                .any(|g| g["group"] == group && g["version"] == version && g["kind"] == kind)
                .then(|| name.clone())
        })?;
    defs["$ref"] = json!(format!("#/$defs/{name}"));
    Some(jsonschema::validator_for(&defs).unwrap())
}

fn check_upstream(rendered: &Rendered) -> BTreeSet<String> {
    let mut unchecked = BTreeSet::new();
    for (source, object) in &rendered.objects {
        let api_version = object["apiVersion"].as_str().unwrap();
        let kind = object["kind"].as_str().unwrap();
        let Some(validator) = upstream_validator(api_version, kind) else {
            unchecked.insert(format!("{api_version}/{kind}"));
            continue;
        };
        let errors: Vec<String> = validator
            .iter_errors(object)
            .map(|e| format!("{}: {e}", e.instance_path))
            .collect();
        assert!(
            errors.is_empty(),
            "{source}: {kind} is not valid upstream: {errors:#?}"
        );
    }
    unchecked
}

fn golden(name: &str, text: &str) {
    let path = root().join("testdata/chart").join(name);
    if std::env::var_os("KRADLE_UPDATE").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == text,
        "{} differs; run `KRADLE_UPDATE=1 cargo test --test chart` and review the diff",
        path.display()
    );
}

fn find<'a>(r: &'a Rendered, kind: &str, name: &str) -> &'a Value {
    r.objects
        .iter()
        .map(|(_, o)| o)
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn kinds(r: &Rendered) -> Vec<String> {
    r.objects
        .iter()
        .map(|(_, o)| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn default_values_render_valid_objects() {
    let r = render(None).unwrap();
    let unchecked = check_upstream(&r);
    assert!(
        unchecked.is_empty(),
        "without an upstream schema: {unchecked:?}"
    );
    assert_eq!(
        kinds(&r),
        [
            "APIService/v1alpha1.data.kradle.a5c.ai",
            "Deployment/kradle",
            "Job/kradle-migrate",
            "PodDisruptionBudget/kradle",
            "ClusterRole/kradle-org",
            "ClusterRole/kradle-auth",
            "ClusterRoleBinding/kradle-auth",
            "RoleBinding/kradle-auth-reader",
            "ClusterRole/kradle-data-view",
            "ClusterRole/kradle-data-edit",
            "Service/kradle",
            "ServiceAccount/kradle",
        ]
    );
    assert!(r.notes.contains("kradle-system"), "{}", r.notes);
    golden("default.yaml", &r.stream);
}

#[test]
fn full_values_render_every_optional_part() {
    let r = render(Some(&full_values())).unwrap();
    // The Prometheus operator's CRD is not among the upstream schemas.
    let unchecked = check_upstream(&r);
    assert_eq!(
        unchecked,
        BTreeSet::from(["monitoring.coreos.com/v1/ServiceMonitor".to_string()])
    );
    let names = kinds(&r);
    for expected in [
        "APIService/v1alpha1.data.kradle.a5c.ai",
        "NetworkPolicy/platform-kradle",
        "ServiceMonitor/platform-kradle",
        "RoleBinding/platform-kradle",
    ] {
        assert!(
            names.contains(&expected.to_string()),
            "{expected} missing from {names:?}"
        );
    }
    // Token files replace the TokenReview rights, and cannot serve behind
    // an APIService.
    let tokens = render(Some(
        "serve:\n  apiAuth: tokenFile\n  apiTokenSecret: kradle-api-tokens\n\
         apiService:\n  enabled: false\n",
    ))
    .unwrap();
    let token_names = kinds(&tokens);
    assert!(
        !token_names
            .iter()
            .any(|n| n.contains("-auth") || n.starts_with("APIService/")),
        "{token_names:?}"
    );
    check_upstream(&tokens);
    let monitor = find(&r, "ServiceMonitor", "platform-kradle");
    assert_eq!(monitor["metadata"]["labels"]["release"], "prometheus");
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    let api = find(&r, "APIService", "v1alpha1.data.kradle.a5c.ai");
    assert_eq!(api["spec"]["group"], kradle_runtime::serve::api::GROUP);
    assert_eq!(api["spec"]["service"]["name"], "platform-kradle");
    golden("full.yaml", &r.stream);
}

/// The server's container args.
fn server_args(r: &Rendered) -> Vec<String> {
    let deploy = r
        .objects
        .iter()
        .map(|(_, o)| o)
        .find(|o| o["kind"] == "Deployment")
        .unwrap();
    deploy["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_apiservice_reaches_the_https_port_and_the_front_proxy_is_verified() {
    // Defaults: a self-signed certificate, which the API server does not
    // verify; the front proxy's CA read from the cluster.
    let r = render(None).unwrap();
    let api = find(&r, "APIService", "v1alpha1.data.kradle.a5c.ai");
    assert_eq!(api["spec"]["insecureSkipTLSVerify"], true);
    assert_eq!(
        api["spec"]["service"],
        json!({ "name": "kradle", "namespace": "kradle-system", "port": 443 })
    );
    let service = find(&r, "Service", "kradle");
    let https = service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["port"] == 443)
        .unwrap();
    assert_eq!(https["targetPort"], "https");
    let deploy = find(&r, "Deployment", "kradle");
    let ports = &deploy["spec"]["template"]["spec"]["containers"][0]["ports"];
    assert!(
        ports
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "https" && p["containerPort"] == 8443),
        "{ports}"
    );
    let args = server_args(&r);
    for flag in [
        "--api-token-review",
        "--tls-listen=0.0.0.0:8443",
        "--requestheader-from-cluster",
    ] {
        assert!(args.iter().any(|a| a == flag), "{flag} in {args:?}");
    }
    assert!(!args.iter().any(|a| a.starts_with("--tls-cert-file")));

    // A serving certificate from a Secret, verified with the caBundle.
    let r = render(Some(&full_values())).unwrap();
    let api = find(&r, "APIService", "v1alpha1.data.kradle.a5c.ai");
    assert!(api["spec"].get("insecureSkipTLSVerify").is_none(), "{api}");
    assert!(api["spec"]["caBundle"].is_string());
    assert_eq!(
        api["metadata"]["annotations"]["acme.example/owner"],
        "platform"
    );
    let args = server_args(&r);
    assert!(args.contains(&"--tls-cert-file=/etc/kradle/tls/tls.crt".to_string()));
    assert!(args.contains(&"--tls-key-file=/etc/kradle/tls/tls.key".to_string()));
    let deploy = find(&r, "Deployment", "platform-kradle");
    let volumes = &deploy["spec"]["template"]["spec"]["volumes"];
    assert!(
        volumes
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["secret"]["secretName"] == "kradle-serving-tls"),
        "{volumes}"
    );
}

/// The pod of every workload: non-root, read-only root, no capabilities.
fn pods(r: &Rendered) -> Vec<&Value> {
    r.objects
        .iter()
        .map(|(_, o)| o)
        .filter(|o| o["kind"] == "Deployment" || o["kind"] == "Job")
        .map(|o| &o["spec"]["template"]["spec"])
        .collect()
}

#[test]
fn every_container_runs_non_root_read_only_without_capabilities() {
    for r in [render(None).unwrap(), render(Some(&full_values())).unwrap()] {
        for pod in pods(&r) {
            assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
            let containers = pod["containers"].as_array().unwrap().iter();
            let init = pod["initContainers"].as_array().into_iter().flatten();
            for c in containers.chain(init) {
                let sc = &c["securityContext"];
                assert_eq!(sc["readOnlyRootFilesystem"], true, "{}", c["name"]);
                assert_eq!(sc["allowPrivilegeEscalation"], false, "{}", c["name"]);
                assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{}", c["name"]);
                // The database URL only ever comes from a Secret.
                for env in c["env"].as_array().into_iter().flatten() {
                    if env["name"] == "KRADLE_DATABASE_URL" {
                        assert!(env.get("value").is_none(), "{env}");
                        assert!(env["valueFrom"]["secretKeyRef"]["name"].is_string());
                    }
                }
            }
        }
    }
}

#[test]
fn the_server_is_probed_on_healthz_and_readyz_with_flags_kradle_serve_knows() {
    let r = render(Some(&full_values())).unwrap();
    let deploy = find(&r, "Deployment", "platform-kradle");
    let server = &deploy["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(server["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(server["readinessProbe"]["httpGet"]["path"], "/readyz");
    let args: Vec<&str> = server["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(&args[..2], ["serve", "/config/current/platform"]);
    // Every flag the chart passes is one `kradle serve` accepts.
    let help = Command::new(env!("CARGO_BIN_EXE_kradle"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for arg in &args[2..] {
        let flag = arg.split('=').next().unwrap();
        assert!(
            help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
            "kradle serve has no {flag}"
        );
    }
    // The migration hook runs `kradle db migrate` before install and upgrade.
    let migrate = find(&r, "Job", "platform-kradle-migrate");
    assert_eq!(
        migrate["metadata"]["annotations"]["helm.sh/hook"],
        "pre-install,pre-upgrade"
    );
    assert_eq!(
        migrate["spec"]["template"]["spec"]["containers"][0]["args"],
        json!(["db", "migrate"])
    );
    let status = Command::new(env!("CARGO_BIN_EXE_kradle"))
        .args(["db", "migrate", "--help"])
        .output()
        .unwrap()
        .status;
    assert!(status.success());
    // The Service routes to the server's pods, not to the migration's.
    let service = find(&r, "Service", "platform-kradle");
    let selector = service["spec"]["selector"].as_object().unwrap();
    let migrate_labels = &migrate["spec"]["template"]["metadata"]["labels"];
    assert!(selector.iter().any(|(k, v)| &migrate_labels[k] != v));
    let pod_labels = &deploy["spec"]["template"]["metadata"]["labels"];
    assert!(selector.iter().all(|(k, v)| &pod_labels[k] == v));
}

#[test]
fn rbac_is_least_privilege_and_only_in_org_namespaces() {
    let r = render(Some(&full_values())).unwrap();
    for (_, o) in &r.objects {
        for rule in o["rules"].as_array().into_iter().flatten() {
            for field in ["apiGroups", "resources", "verbs"] {
                let items = rule[field].as_array().unwrap();
                assert!(
                    !items.iter().any(|v| v == "*"),
                    "a `*` in {}: {rule}",
                    o["metadata"]["name"]
                );
            }
        }
        if o["kind"] == "RoleBinding" {
            let ns = o["metadata"]["namespace"].as_str().unwrap();
            // Outside the org namespaces, only the Role Kubernetes keeps
            // for reading the front proxy's ConfigMap.
            let reader = ns == "kube-system"
                && o["roleRef"]
                    == json!({ "apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                               "name": "extension-apiserver-authentication-reader" });
            assert!(ns.starts_with("kradle-org-") || reader, "{ns}: {o}");
        }
        assert_ne!(
            o["kind"], "Role",
            "rights come from one ClusterRole, bound per namespace"
        );
    }
    let bound: Vec<&str> = r
        .objects
        .iter()
        .filter(|(_, o)| o["kind"] == "RoleBinding")
        .map(|(_, o)| o["metadata"]["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(
        bound,
        ["kradle-org-acme", "kradle-org-globex", "kube-system"]
    );
    // The org role is never bound cluster-wide.
    for (_, o) in &r.objects {
        if o["kind"] == "ClusterRoleBinding" {
            assert_ne!(o["roleRef"]["name"], "platform-kradle-org");
        }
    }
    // Readers may read exactly what the aggregated API serves.
    let view = find(&r, "ClusterRole", "platform-kradle-data-view");
    let listed: BTreeSet<&str> = view["rules"][0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let served: BTreeSet<&str> = kradle_runtime::serve::api::kinds().map(|k| k.1).collect();
    assert_eq!(listed, served);
    assert_eq!(
        view["rules"][0]["apiGroups"],
        json!([kradle_runtime::serve::api::GROUP])
    );
}

#[test]
fn values_the_schema_refuses_never_render() {
    for (values, expected) in [
        (
            "rbac:\n  orgNamespaces: [kube-system]\n",
            "/rbac/orgNamespaces/0",
        ),
        (
            "database:\n  existingSecret: \"\"\n",
            "/database/existingSecret",
        ),
        ("serve:\n  dispatch: docker\n", "/serve/dispatch"),
        ("replicas: 3\n", "replicas"),
        ("config:\n  path: ../etc\n", "/config/path"),
    ] {
        let error = render(Some(values))
            .err()
            .unwrap_or_else(|| panic!("{values} rendered"));
        assert!(error.contains(expected), "{values}: {error}");
    }
    // Behind an APIService, only the cluster's RBAC can decide.
    let error = render(Some("serve:\n  apiAuth: tokenFile\n  apiTokenSecret: t\n"))
        .err()
        .unwrap();
    assert!(error.contains("/serve/apiAuth"), "{error}");
    // A template's own `required` names the value.
    let error = render(Some(
        "serve:\n  apiAuth: tokenFile\napiService:\n  enabled: false\n",
    ))
    .err()
    .unwrap();
    assert!(
        error.contains("serve.apiTokenSecret is required"),
        "{error}"
    );
}

#[test]
fn the_renderer_follows_go_template_semantics() {
    let mut t = gotemplate::Templates::default();
    t.add(
        "t",
        "{{- define \"x\" -}}[{{ . }}]{{- end -}}\n\
         a: {{ .a | default \"d\" | quote }}\n\
         {{- if .no }}never{{ else if .yes }}\nb: {{ include \"x\" .yes }}{{ end }}\n\
         {{- range .list }}\n- {{ . }}{{ else }}none{{ end }}\n\
         {{- with .missing }}never{{ else }}\nc: {{ $.yes }}{{ end }}\n\
         {{/* a comment */ -}}\n\
         d: {{ printf \"%s-%d\" \"n\" 3 | trunc 3 }}{{ toYaml .map | nindent 2 }}\n",
    )
    .unwrap();
    let out = t
        .render(
            "t",
            &json!({"a": "", "yes": 1, "list": ["p", "q"], "map": {"k": [1]}}),
        )
        .unwrap();
    assert_eq!(
        out,
        "a: \"d\"\nb: [1]\n- p\n- q\nc: 1\nd: n-3\n  k:\n  - 1\n"
    );
    // A field of nothing is an error, as in Go.
    assert!(
        t.render("t", &json!({"a": "x", "yes": 1, "map": {}}))
            .is_ok()
    );
    let mut bad = gotemplate::Templates::default();
    bad.add("b", "{{ .a.b.c }}").unwrap();
    assert!(
        bad.render("b", &json!({}))
            .unwrap_err()
            .contains("nil pointer")
    );
    assert!(bad.add("c", "{{ if .a }}").is_err());
    assert!(bad.add("d", "{{ .a | nosuch }}").is_ok());
    assert!(
        bad.render("d", &json!({}))
            .unwrap_err()
            .contains("not in the subset")
    );
}

#[test]
fn the_chart_is_documented() {
    let readme = std::fs::read_to_string(chart().join("README.md")).unwrap();
    // Every top-level value is described.
    for key in values(None).as_object().unwrap().keys() {
        assert!(
            readme.contains(&format!("`{key}")),
            "charts/kradle/README.md does not describe `{key}`"
        );
    }
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let image = values(None)["image"]["repository"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        dockerfile.contains(&image),
        "the Dockerfile names the image the chart pulls ({image})"
    );
    assert!(chart().join("crds").is_dir());
}

#[test]
fn the_compiled_runtime_bindings_name_the_charts_service_account_and_role() {
    // The example's kradle.yaml names the runtime of a release `kradle` in
    // `kradle-system`: its RoleBindings must bind what the chart creates.
    let out = Command::new(env!("CARGO_BIN_EXE_kradle"))
        .args(["build", "--stdout", "--now", "2026-11-01T00:00:00Z"])
        .arg(root().join("examples/acme-platform"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let (docs, errors) = kradle_compiler::yaml::parse(&String::from_utf8(out.stdout).unwrap());
    assert!(errors.is_empty());
    let bindings: Vec<Value> = docs
        .iter()
        .map(|d| d.root.to_json())
        .filter(|o| o["kind"] == "RoleBinding" && o["metadata"]["name"] == "kradle-runtime")
        .collect();
    let namespaces: Vec<&str> = bindings
        .iter()
        .map(|b| b["metadata"]["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(namespaces, ["kradle-org-acme", "kradle-org-globex"]);

    let r = render(None).unwrap();
    let account = find(&r, "ServiceAccount", "kradle");
    for binding in &bindings {
        let role = binding["roleRef"]["name"].as_str().unwrap();
        let role = find(&r, "ClusterRole", role);
        assert!(
            role["rules"]
                .as_array()
                .unwrap()
                .iter()
                .any(|rule| rule["resources"] == json!(["jobs"])),
            "{role}"
        );
        assert_eq!(
            binding["subjects"],
            json!([{ "kind": "ServiceAccount", "name": account["metadata"]["name"],
                     "namespace": "kradle-system" }])
        );
    }
}
