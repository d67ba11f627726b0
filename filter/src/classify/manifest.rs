//! Kubernetes objects in request bodies: what a create, update, patch or apply would
//! grant.
//!
//! The apiserver does not care which verb carries a privileged pod: a `POST` of a Pod,
//! a `PUT` of a Deployment, a strategic-merge or JSON merge `PATCH` of a CronJob, a
//! server-side apply (`PATCH` with `application/apply-patch+yaml`), a JSON-patch `add`
//! of `/spec/template/spec/hostNetwork`, or a `List` of any of those all end in the
//! same running container. So the body is read as data, not as a particular object
//! shape: every object at any depth is looked at, which covers Pods, the pod
//! templates of Deployments, DaemonSets, StatefulSets, ReplicaSets, Jobs and CronJobs
//! (`jobTemplate`), `List` items, custom resources that embed pod specs, and the
//! fragments patches carry. A JSON patch (an array of `{op, path, value}`) is read as
//! the object its paths build (`/spec/replicas` = `0` is `{"spec": {"replicas": 0}}`);
//! `copy`/`move` into a risky field count as setting it.
//!
//! Keys are compared without regard to case (older apiservers decode JSON
//! case-insensitively), and values the way the most permissive decoder reads them:
//! YAML 1.1 booleans (`yes`, `on`) are true, and anything but `false`/`null` (or a
//! false spelling) in a boolean field counts as set. The risks ([`KubernetesRisk`]):
//!
//! - `privileged: true` (or Windows `hostProcess: true`); `allowPrivilegeEscalation: true`;
//! - a `hostPath` volume (any non-null value);
//! - `hostNetwork`, `hostPID`, `hostIPC`;
//! - `capabilities.add` with anything outside the Pod Security "baseline" set
//!   (`SYS_ADMIN`, `NET_ADMIN`, `ALL`, ...; `CAP_` prefixes and case ignored);
//! - a `roleRef` to `cluster-admin`, `admin`, `edit` or any `system:` role (a
//!   RoleBinding or ClusterRoleBinding granting them);
//! - RBAC `rules` granting `*` (in verbs, resources, apiGroups or nonResourceURLs),
//!   or the `escalate`, `bind` or `impersonate` verbs;
//! - `spec.replicas` of zero (scaling a workload, or its `scale` subresource, to 0);
//! - a body that cannot be read as JSON or YAML (protobuf, malformed YAML): opaque.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Something a written Kubernetes object would do that a policy may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KubernetesRisk {
    /// A container with `privileged: true`.
    Privileged,
    /// A container with `allowPrivilegeEscalation: true`.
    PrivilegeEscalation,
    /// A `hostPath` volume (the node's filesystem).
    HostPath,
    /// `hostNetwork: true`.
    HostNetwork,
    /// `hostPID: true`.
    HostPid,
    /// `hostIPC: true`.
    HostIpc,
    /// Linux capabilities added beyond the Pod Security baseline.
    AddedCapabilities,
    /// A role binding to `cluster-admin`, `admin`, `edit` or a `system:` role.
    AdminBinding,
    /// An RBAC rule granting `*`.
    WildcardRole,
    /// An RBAC rule granting `escalate`, `bind` or `impersonate`.
    EscalatingRole,
    /// `spec.replicas: 0`.
    ScaleToZero,
    /// The body could not be read, so it could hold any of the above.
    Opaque,
}

/// Capabilities the Pod Security Standards' baseline profile lets a container add.
const BASELINE_CAPABILITIES: [&str; 13] = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Built-in roles that grant (nearly) everything in their scope.
const ADMIN_ROLES: [&str; 3] = ["cluster-admin", "admin", "edit"];

/// RBAC verbs that let the holder grant itself more.
const ESCALATING_VERBS: [&str; 3] = ["escalate", "bind", "impersonate"];

/// The risks in a JSON body (an object, a `List`, or a JSON patch).
pub fn json_risks(body: &Value) -> BTreeSet<KubernetesRisk> {
    let mut risks = BTreeSet::new();
    scan(body, &mut risks);
    if let Some(patched) = json_patch_object(body) {
        scan(&patched, &mut risks);
    }
    risks
}

/// The risks in a body that is not JSON: YAML documents (every one of them), or
/// [`KubernetesRisk::Opaque`] when it is not readable YAML either.
pub fn text_risks(body: &[u8]) -> BTreeSet<KubernetesRisk> {
    match super::json::parse_yaml_documents(body) {
        Ok(documents) => {
            let mut risks = BTreeSet::new();
            for document in &documents {
                risks.extend(json_risks(document));
            }
            risks
        }
        Err(_) => BTreeSet::from([KubernetesRisk::Opaque]),
    }
}

/// A JSON patch (`[{"op": ..., "path": ..., "value": ...}, ...]`) as the object its
/// paths build; `None` when the body is not one.
fn json_patch_object(body: &Value) -> Option<Value> {
    let operations = body.as_array()?;
    let mut built = Vec::new();
    for operation in operations {
        let operation = operation.as_object()?;
        let op = get_ci(operation, "op")?.as_str()?.to_ascii_lowercase();
        let path = get_ci(operation, "path")?.as_str()?;
        let value = match op.as_str() {
            "add" | "replace" | "test" => get_ci(operation, "value").cloned()?,
            // The value comes from elsewhere in the object: assume the worst.
            "copy" | "move" => Value::Bool(true),
            _ => continue,
        };
        built.push(object_at_pointer(path, value));
    }
    Some(Value::Array(built))
}

/// `{"a": {"b": value}}` for the JSON pointer `/a/b`; array indices (and `-`)
/// become one-element arrays.
fn object_at_pointer(pointer: &str, value: Value) -> Value {
    let tokens: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|token| token.replace("~1", "/").replace("~0", "~"))
        .collect();
    let mut built = value;
    for token in tokens.iter().rev() {
        built = if token == "-" || (!token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()))
        {
            Value::Array(vec![built])
        } else {
            let mut object = Map::new();
            object.insert(token.clone(), built);
            Value::Object(object)
        };
    }
    built
}

/// A member by name, ignoring ASCII case (the first such member).
fn get_ci<'v>(object: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    object
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

/// Walks every value with an explicit stack, noting risky members. `parent` is the
/// key the value sits under (array elements inherit their array's key; YAML merge
/// keys `<<` are transparent).
fn scan(root: &Value, risks: &mut BTreeSet<KubernetesRisk>) {
    let mut pending: Vec<(&Value, Option<String>)> = vec![(root, None)];
    while let Some((value, parent)) = pending.pop() {
        match value {
            Value::Array(items) => {
                pending.extend(items.iter().map(|item| (item, parent.clone())));
            }
            Value::Object(object) => {
                for (key, member) in object {
                    let key = key.to_ascii_lowercase();
                    note_member(&key, member, parent.as_deref(), risks);
                    let under = if key == "<<" {
                        parent.clone()
                    } else {
                        Some(key)
                    };
                    pending.push((member, under));
                }
            }
            _ => {}
        }
    }
}

fn note_member(
    key: &str,
    value: &Value,
    parent: Option<&str>,
    risks: &mut BTreeSet<KubernetesRisk>,
) {
    use KubernetesRisk as R;
    match key {
        // `hostProcess` is the Windows form of a privileged container.
        "privileged" | "hostprocess" if is_set(value) => {
            risks.insert(R::Privileged);
        }
        "allowprivilegeescalation" if is_set(value) => {
            risks.insert(R::PrivilegeEscalation);
        }
        "hostpath" if !value.is_null() => {
            risks.insert(R::HostPath);
        }
        "hostnetwork" if is_set(value) => {
            risks.insert(R::HostNetwork);
        }
        "hostpid" if is_set(value) => {
            risks.insert(R::HostPid);
        }
        "hostipc" if is_set(value) => {
            risks.insert(R::HostIpc);
        }
        "add" if parent == Some("capabilities") && adds_capabilities(value) => {
            risks.insert(R::AddedCapabilities);
        }
        "name" if parent == Some("roleref") && is_admin_role(value) => {
            risks.insert(R::AdminBinding);
        }
        "roleref"
            if value
                .as_str()
                .is_some_and(|name| is_admin_role(&Value::from(name))) =>
        {
            risks.insert(R::AdminBinding);
        }
        "verbs" | "resources" | "apigroups" | "nonresourceurls" if parent == Some("rules") => {
            for item in strings(value) {
                if item.contains('*') {
                    risks.insert(R::WildcardRole);
                }
                if key == "verbs"
                    && ESCALATING_VERBS
                        .iter()
                        .any(|verb| item.trim().eq_ignore_ascii_case(verb))
                {
                    risks.insert(R::EscalatingRole);
                }
            }
        }
        "replicas" if parent == Some("spec") && is_zero(value) => {
            risks.insert(R::ScaleToZero);
        }
        _ => {}
    }
}

/// A boolean field that is set: anything but `false`, `null` or a false spelling
/// (YAML 1.1 reads `no`/`off`/`n` as false, and `yes`/`on`/`y` as true).
fn is_set(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(set) => *set,
        Value::String(text) => !matches!(
            text.trim().to_ascii_lowercase().as_str(),
            "false" | "no" | "off" | "n" | "0" | ""
        ),
        Value::Number(number) => number.as_f64() != Some(0.0),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// Whether a `capabilities.add` value adds anything beyond the baseline.
fn adds_capabilities(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Array(items) => items.iter().any(|item| match item.as_str() {
            Some(name) => !is_baseline_capability(name),
            None => !item.is_null(),
        }),
        Value::String(name) => !is_baseline_capability(name),
        _ => true,
    }
}

fn is_baseline_capability(name: &str) -> bool {
    let name = name.trim().to_ascii_uppercase();
    let name = name.strip_prefix("CAP_").unwrap_or(&name);
    BASELINE_CAPABILITIES.contains(&name)
}

fn is_admin_role(value: &Value) -> bool {
    match value.as_str() {
        Some(name) => {
            let name = name.trim().to_ascii_lowercase();
            ADMIN_ROLES.contains(&name.as_str()) || name.starts_with("system:")
        }
        // A name that is not a string could be read as anything.
        None => !value.is_null(),
    }
}

/// The strings of a list (or a lone string); other items as their JSON text.
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            })
            .collect(),
        Value::String(text) => vec![text.clone()],
        Value::Null => Vec::new(),
        other => vec![other.to_string()],
    }
}

/// A replica count of zero, however spelled (`0`, `0.0`, `"0"`, `0x0`, `-0`).
fn is_zero(value: &Value) -> bool {
    match value {
        Value::Number(number) => number.as_f64() == Some(0.0),
        Value::String(text) => {
            let text = text.trim().trim_start_matches(['+', '-']);
            let digits = text
                .strip_prefix("0x")
                .or_else(|| text.strip_prefix("0X"))
                .or_else(|| text.strip_prefix("0o"))
                .or_else(|| text.strip_prefix("0O"))
                .unwrap_or(text);
            let digits = digits.split('.').next().unwrap_or(digits);
            !digits.is_empty()
                && digits.bytes().all(|b| b == b'0' || b == b'_')
                && text
                    .split('.')
                    .nth(1)
                    .is_none_or(|f| f.bytes().all(|b| b == b'0'))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use KubernetesRisk as R;

    fn risks(body: Value) -> Vec<KubernetesRisk> {
        json_risks(&body).into_iter().collect()
    }

    fn yaml(text: &str) -> Vec<KubernetesRisk> {
        text_risks(text.as_bytes()).into_iter().collect()
    }

    #[test]
    fn pod_specs_anywhere() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
            "spec": {"containers": [{"name": "c", "image": "i", "securityContext": {"privileged": true}}]}});
        assert_eq!(risks(pod), [R::Privileged]);

        let deployment = json!({"kind": "Deployment", "spec": {"replicas": 2, "template": {"spec": {
            "hostNetwork": true, "hostPID": true, "hostIPC": true,
            "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
            "initContainers": [{"securityContext": {"allowPrivilegeEscalation": true}}],
            "containers": [{"securityContext": {"capabilities": {"add": ["NET_BIND_SERVICE", "SYS_ADMIN"]}}}]}}}});
        assert_eq!(
            risks(deployment),
            [
                R::PrivilegeEscalation,
                R::HostPath,
                R::HostNetwork,
                R::HostPid,
                R::HostIpc,
                R::AddedCapabilities
            ]
        );

        let cronjob = json!({"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "ephemeralContainers": [{"securityContext": {"privileged": true}}]}}}}}});
        assert_eq!(risks(cronjob), [R::Privileged]);

        let list = json!({"kind": "List", "items": [{"kind": "ConfigMap"}, {"kind": "Pod", "spec": {"hostNetwork": true}}]});
        assert_eq!(risks(list), [R::HostNetwork]);
    }

    #[test]
    fn harmless_objects_have_no_risks() {
        for body in [
            json!({"kind": "Pod", "spec": {"containers": [{"securityContext": {"privileged": false, "allowPrivilegeEscalation": false,
                "capabilities": {"add": ["NET_BIND_SERVICE", "cap_chown"], "drop": ["ALL"]}}}], "hostNetwork": false}}),
            json!({"kind": "Deployment", "spec": {"replicas": 3}}),
            json!({"kind": "Deployment", "status": {"replicas": 0}}),
            json!({"kind": "RoleBinding", "roleRef": {"kind": "ClusterRole", "name": "view"}}),
            json!({"kind": "Role", "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]}),
            json!({"spec": {"volumes": [{"name": "v", "hostPath": null}]}}),
            json!([{"op": "remove", "path": "/spec/hostNetwork"}]),
        ] {
            assert_eq!(risks(body.clone()), [], "{body}");
        }
    }

    #[test]
    fn spellings_of_true_and_case() {
        assert_eq!(
            risks(json!({"securityContext": {"Privileged": "yes"}})),
            [R::Privileged]
        );
        assert_eq!(
            risks(json!({"spec": {"HOSTNETWORK": "on"}})),
            [R::HostNetwork]
        );
        assert_eq!(risks(json!({"spec": {"hostPID": 1}})), [R::HostPid]);
        assert_eq!(risks(json!({"spec": {"hostIPC": "No"}})), []);
        assert_eq!(
            risks(json!({"capabilities": {"add": ["cap_sys_admin"]}})),
            [R::AddedCapabilities]
        );
        assert_eq!(
            risks(json!({"capabilities": {"add": "ALL"}})),
            [R::AddedCapabilities]
        );
    }

    #[test]
    fn rbac() {
        assert_eq!(
            risks(
                json!({"kind": "ClusterRoleBinding", "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"kind": "ServiceAccount", "name": "agent", "namespace": "x"}]})
            ),
            [R::AdminBinding]
        );
        assert_eq!(
            risks(json!({"roleRef": {"name": " Admin "}})),
            [R::AdminBinding]
        );
        assert_eq!(
            risks(json!({"roleRef": {"name": "system:controller:x"}})),
            [R::AdminBinding]
        );
        assert_eq!(
            risks(
                json!({"kind": "ClusterRole", "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]})
            ),
            [R::WildcardRole]
        );
        assert_eq!(
            risks(json!({"rules": [{"resources": ["pods/*"], "verbs": ["get"]}]})),
            [R::WildcardRole]
        );
        assert_eq!(
            risks(
                json!({"rules": [{"resources": ["clusterroles"], "verbs": ["escalate", "bind"]}]})
            ),
            [R::EscalatingRole]
        );
        assert_eq!(
            risks(json!({"rules": [{"nonResourceURLs": ["*"], "verbs": ["get"]}]})),
            [R::WildcardRole]
        );
    }

    #[test]
    fn scale_to_zero() {
        for replicas in [
            json!(0),
            json!(0.0),
            json!("0"),
            json!("0x0"),
            json!("-0"),
            json!("00"),
        ] {
            assert_eq!(
                risks(json!({"kind": "Scale", "spec": {"replicas": replicas.clone()}})),
                [R::ScaleToZero],
                "{replicas}"
            );
        }
        assert_eq!(risks(json!({"spec": {"replicas": 1}})), []);
        assert_eq!(risks(json!({"spec": {"replicas": "10"}})), []);
    }

    #[test]
    fn json_patches_are_read_as_the_object_they_build() {
        assert_eq!(
            risks(json!([{"op": "add", "path": "/spec/template/spec/hostNetwork", "value": true}])),
            [R::HostNetwork]
        );
        assert_eq!(
            risks(json!([{"op": "replace", "path": "/spec/replicas", "value": 0}])),
            [R::ScaleToZero]
        );
        assert_eq!(
            risks(
                json!([{"op": "add", "path": "/spec/containers/0/securityContext/capabilities/add/-", "value": "SYS_ADMIN"}])
            ),
            [R::AddedCapabilities]
        );
        assert_eq!(
            risks(
                json!([{"op": "add", "path": "/spec/containers/0/securityContext", "value": {"privileged": true}}])
            ),
            [R::Privileged]
        );
        assert_eq!(
            risks(json!([{"op": "copy", "from": "/metadata/x", "path": "/spec/hostPID"}])),
            [R::HostPid]
        );
        assert_eq!(
            risks(json!([{"op": "add", "path": "/roleRef/name", "value": "cluster-admin"}])),
            [R::AdminBinding]
        );
        assert_eq!(
            risks(
                json!([{"op": "add", "path": "/spec/volumes/-", "value": {"name": "h", "hostPath": {"path": "/"}}}])
            ),
            [R::HostPath]
        );
    }

    #[test]
    fn yaml_bodies() {
        assert_eq!(
            yaml("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: c\n    securityContext:\n      privileged: yes\n"),
            [R::Privileged]
        );
        assert_eq!(
            yaml("kind: ConfigMap\n---\nkind: Pod\nspec:\n  hostNetwork: true\n"),
            [R::HostNetwork]
        );
        // Anchors and merge keys.
        assert_eq!(
            yaml("base: &b {privileged: true}\nspec:\n  containers:\n  - securityContext:\n      <<: *b\n"),
            [R::Privileged]
        );
        assert_eq!(yaml("spec:\n  <<: {replicas: 0}\n"), [R::ScaleToZero]);
        assert_eq!(yaml("{kind: Pod, spec: {hostPID: true}}"), [R::HostPid]);
        assert_eq!(yaml("kind: Deployment\nspec:\n  replicas: 3\n"), []);
        // Not YAML (protobuf), or ambiguous: could be anything.
        assert_eq!(
            text_risks(b"k8s\x00\n\x02v1\x12\x03Pod\x1a\xff\xfe"),
            BTreeSet::from([R::Opaque])
        );
        assert_eq!(
            yaml("spec:\n  hostPID: false\n  hostPID: true\n"),
            [R::Opaque]
        );
        assert_eq!(yaml("spec: [unclosed"), [R::Opaque]);
    }
}
