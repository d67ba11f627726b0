//! Git hosting REST APIs that move refs: the same ref updates a `git push` makes,
//! asked for over HTTP/JSON instead of the smart protocol.
//!
//! A push to `main` is held whether it arrives as pkt-lines or as
//! `PATCH /repos/{owner}/{repo}/git/refs/heads/main`, so these requests are reported as
//! git receive-pack in phase [`GitPhase::Api`](super::git::GitPhase::Api), with the
//! ref updates they ask for, and the `git` policy conditions (`ref`, `ref_action`)
//! apply unchanged. Recognised (under any path prefix, such as GitHub Enterprise's
//! `/api/v3` or Gitea's `/api/v1`; path words compared without regard to case):
//!
//! | request | ref update |
//! |---|---|
//! | `POST /repos/{o}/{r}/git/refs` (body `ref`) | create |
//! | `PATCH`/`PUT`/`POST /repos/{o}/{r}/git/refs/{ref}` | update |
//! | `DELETE /repos/{o}/{r}/git/refs/{ref}` | delete |
//! | `POST /repos/{o}/{r}/merges` (body `base`) | update of the base branch |
//! | `POST /repos/{o}/{r}/merge-upstream` (body `branch`) | update |
//! | `POST /repos/{o}/{r}/branches/{b}/rename`, `PATCH /repos/{o}/{r}/branches/{b}` (body `new_name`/`name`) | delete of `b`, create of the new name |
//! | `DELETE /repos/{o}/{r}/branches/{b}`, `DELETE /repos/{o}/{r}/tags/{t}` (Gitea) | delete |
//! | `POST /repos/{o}/{r}/branches` (Gitea; body `new_branch_name`) | create |
//! | `PUT`/`POST /repos/{o}/{r}/pulls/{n}/merge` | update of an unknown branch |
//! | `PUT`/`POST`/`DELETE /repos/{o}/{r}/contents/{path}` (body `branch`, default: the default branch) | update |
//! | `DELETE /repos/{o}/{r}` | delete of every ref |
//! | GitLab `DELETE /projects/{id}/repository/branches/{b}` and `/tags/{t}` | delete |
//! | GitLab `DELETE /projects/{id}/repository/merged_branches` | delete of unknown branches |
//! | GitLab `POST /projects/{id}/repository/commits`, `POST`/`PUT`/`DELETE /projects/{id}/repository/files/{path}` (body `branch`) | update |
//! | GitLab `PUT /projects/{id}/merge_requests/{iid}/merge`, `DELETE /projects/{id}` | update / delete of unknown refs |
//!
//! A ref the request does not name, or names only in a body Warden could not read,
//! is reported with an empty name, which every `ref` pattern matches (it could be
//! `main`). Branch names are qualified as `refs/heads/...` unless already `refs/...`.

use serde_json::Value;

use super::git::{GitPhase, GitRequest, GitService, RefAction, RefUpdate};

/// Which body member names a ref, and what the request does to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyRef {
    /// Member names to look for, in order (the first present one counts).
    pub fields: &'static [&'static str],
    /// What happens to the ref it names.
    pub action: RefAction,
}

/// A recognised ref-moving API call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefApiCall {
    /// The request, as a receive-pack in the API phase.
    pub request: GitRequest,
    /// Ref updates the path alone tells.
    pub updates: Vec<RefUpdate>,
    /// A ref update the body tells (reported as unknown until the body is read).
    pub body_ref: Option<BodyRef>,
}

const REF_FIELD: &[&str] = &["ref"];
const BASE_FIELD: &[&str] = &["base"];
const BRANCH_FIELD: &[&str] = &["branch"];
const NEW_NAME_FIELDS: &[&str] = &["new_name", "name", "new_branch_name"];
const NEW_BRANCH_FIELDS: &[&str] = &["new_branch_name", "branch_name", "branch", "name", "ref"];

/// Classifies a ref-moving API call from its method and normalised path.
pub fn classify_ref_api(method: &str, path: &str) -> Option<RefApiCall> {
    let method = method.trim().to_ascii_uppercase();
    if matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS") {
        return None;
    }
    let segments = super::path::segments(path);
    for start in 0..segments.len() {
        let rest = segments.get(start..)?;
        let found = match rest.first() {
            Some(first) if first.eq_ignore_ascii_case("repos") => repos_call(&method, rest),
            Some(first) if first.eq_ignore_ascii_case("projects") => gitlab_call(&method, rest),
            _ => None,
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

fn is(segment: &str, word: &str) -> bool {
    segment.eq_ignore_ascii_case(word)
}

fn call(
    repository: String,
    updates: Vec<RefUpdate>,
    body_ref: Option<BodyRef>,
) -> Option<RefApiCall> {
    Some(RefApiCall {
        request: GitRequest {
            repository,
            service: GitService::ReceivePack,
            phase: GitPhase::Api,
        },
        updates,
        body_ref,
    })
}

fn body(fields: &'static [&'static str], action: RefAction) -> Option<BodyRef> {
    Some(BodyRef { fields, action })
}

/// A ref update with no object ids (the API call names none the policy uses).
pub fn update(ref_name: String, action: RefAction) -> RefUpdate {
    RefUpdate {
        ref_name,
        old_id: String::new(),
        new_id: String::new(),
        action,
    }
}

/// `refs/...` as given, `heads/...` and `tags/...` under `refs/`, anything else as a
/// branch.
pub fn qualify_branch(name: &str) -> String {
    let name = name.trim().trim_matches('/');
    let starts = |prefix: &str| {
        name.len() >= prefix.len()
            && name
                .get(..prefix.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
    };
    if starts("refs/") {
        name.to_string()
    } else if starts("heads/") || starts("tags/") {
        format!("refs/{name}")
    } else {
        format!("refs/heads/{name}")
    }
}

/// GitHub and Gitea: `/repos/{owner}/{repo}/...`.
fn repos_call(method: &str, rest: &[&str]) -> Option<RefApiCall> {
    let [_, owner, repo, tail @ ..] = rest else {
        return None;
    };
    let repository = format!("/repos/{owner}/{repo}");
    let joined = |parts: &[&str]| parts.join("/");
    match (method, tail) {
        // The repository itself: every ref goes.
        ("DELETE", []) => call(
            repository,
            vec![update(String::new(), RefAction::Delete)],
            None,
        ),
        (_, [git, refs, name @ ..]) if is(git, "git") && is(refs, "refs") => {
            if name.is_empty() {
                return match method {
                    "POST" | "PUT" => {
                        call(repository, Vec::new(), body(REF_FIELD, RefAction::Create))
                    }
                    _ => None,
                };
            }
            let ref_name = {
                let name = joined(name);
                if name.len() >= 5
                    && name
                        .get(..5)
                        .is_some_and(|p| p.eq_ignore_ascii_case("refs/"))
                {
                    name
                } else {
                    format!("refs/{name}")
                }
            };
            let action = if method == "DELETE" {
                RefAction::Delete
            } else {
                RefAction::Update
            };
            let mut updates = vec![update(ref_name.clone(), action)];
            // A server that decodes the path once more (`heads%252Fmain`) acts on the
            // decoded name.
            if ref_name.contains('%') {
                let decoded = super::path::percent_decode(&ref_name);
                if decoded != ref_name {
                    updates.push(update(decoded, action));
                }
            }
            call(repository, updates, None)
        }
        ("POST" | "PUT", [merges]) if is(merges, "merges") => {
            call(repository, Vec::new(), body(BASE_FIELD, RefAction::Update))
        }
        ("POST" | "PUT", [sync]) if is(sync, "merge-upstream") => call(
            repository,
            Vec::new(),
            body(BRANCH_FIELD, RefAction::Update),
        ),
        ("POST" | "PUT", [branches]) if is(branches, "branches") => call(
            repository,
            Vec::new(),
            body(NEW_BRANCH_FIELDS, RefAction::Create),
        ),
        (_, [branches, name @ .., rename])
            if is(branches, "branches") && is(rename, "rename") && !name.is_empty() =>
        {
            call(
                repository,
                vec![update(qualify_branch(&joined(name)), RefAction::Delete)],
                body(NEW_NAME_FIELDS, RefAction::Create),
            )
        }
        ("DELETE", [branches, name @ ..]) if is(branches, "branches") && !name.is_empty() => {
            let name = joined(name);
            // Not `.../branches/{b}/protection` and the like: those are settings.
            if name.contains('/') && is_settings_path(&name) {
                return None;
            }
            call(
                repository,
                vec![update(qualify_branch(&name), RefAction::Delete)],
                None,
            )
        }
        ("PATCH", [branches, name @ ..])
            if is(branches, "branches") && !name.is_empty() && !is_settings_path(&joined(name)) =>
        {
            call(
                repository,
                vec![update(qualify_branch(&joined(name)), RefAction::Delete)],
                body(NEW_NAME_FIELDS, RefAction::Create),
            )
        }
        ("DELETE", [tags, name @ ..]) if is(tags, "tags") && !name.is_empty() => call(
            repository,
            vec![update(
                format!("refs/tags/{}", joined(name)),
                RefAction::Delete,
            )],
            None,
        ),
        ("PUT" | "POST", [pulls, _number, merge]) if is(pulls, "pulls") && is(merge, "merge") => {
            call(
                repository,
                vec![update(String::new(), RefAction::Update)],
                None,
            )
        }
        ("PUT" | "POST" | "DELETE", [contents, _path @ ..]) if is(contents, "contents") => call(
            repository,
            Vec::new(),
            body(BRANCH_FIELD, RefAction::Update),
        ),
        _ => None,
    }
}

/// Branch sub-paths that are settings rather than the branch (`protection`, ...).
fn is_settings_path(name: &str) -> bool {
    let last = name.rsplit('/').next().unwrap_or(name).to_ascii_lowercase();
    matches!(
        last.as_str(),
        "protection" | "required_status_checks" | "restrictions" | "enforce_admins"
    )
}

/// GitLab: `/projects/{id}/...`.
fn gitlab_call(method: &str, rest: &[&str]) -> Option<RefApiCall> {
    let [_, project, tail @ ..] = rest else {
        return None;
    };
    let repository = format!("/projects/{project}");
    let joined = |parts: &[&str]| parts.join("/");
    match (method, tail) {
        ("DELETE", []) => call(
            repository,
            vec![update(String::new(), RefAction::Delete)],
            None,
        ),
        ("DELETE", [repo, branches, name @ ..])
            if is(repo, "repository") && is(branches, "branches") && !name.is_empty() =>
        {
            call(
                repository,
                vec![update(qualify_branch(&joined(name)), RefAction::Delete)],
                None,
            )
        }
        ("DELETE", [repo, tags, name @ ..])
            if is(repo, "repository") && is(tags, "tags") && !name.is_empty() =>
        {
            call(
                repository,
                vec![update(
                    format!("refs/tags/{}", joined(name)),
                    RefAction::Delete,
                )],
                None,
            )
        }
        ("DELETE", [repo, merged]) if is(repo, "repository") && is(merged, "merged_branches") => {
            call(
                repository,
                vec![update(String::new(), RefAction::Delete)],
                None,
            )
        }
        ("POST", [repo, branches]) if is(repo, "repository") && is(branches, "branches") => call(
            repository,
            Vec::new(),
            body(BRANCH_FIELD, RefAction::Create),
        ),
        ("POST", [repo, commits]) if is(repo, "repository") && is(commits, "commits") => call(
            repository,
            Vec::new(),
            body(BRANCH_FIELD, RefAction::Update),
        ),
        ("POST" | "PUT" | "DELETE", [repo, files, _path @ ..])
            if is(repo, "repository") && is(files, "files") =>
        {
            call(
                repository,
                Vec::new(),
                body(BRANCH_FIELD, RefAction::Update),
            )
        }
        ("PUT" | "POST", [mrs, _iid, merge]) if is(mrs, "merge_requests") && is(merge, "merge") => {
            call(
                repository,
                vec![update(String::new(), RefAction::Update)],
                None,
            )
        }
        _ => None,
    }
}

/// The ref update a JSON body names for `body_ref`; an unknown ref (empty name) when
/// the member is missing or not a string.
pub fn body_update(body_ref: &BodyRef, body: &Value) -> RefUpdate {
    let named = body.as_object().and_then(|object| {
        body_ref.fields.iter().find_map(|field| {
            object
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(field))
                .map(|(_, value)| value)
        })
    });
    let ref_name = match named {
        Some(Value::String(name)) if !name.trim().is_empty() => qualify_branch(name),
        // Missing: the default branch, or an invalid request; either way unknown.
        _ => String::new(),
    };
    update(ref_name, body_ref.action)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn describe(method: &str, path: &str) -> Option<String> {
        let call = classify_ref_api(method, path)?;
        let mut out: Vec<String> = call
            .updates
            .iter()
            .map(|u| {
                format!(
                    "{:?} {}",
                    u.action,
                    if u.ref_name.is_empty() {
                        "?"
                    } else {
                        &u.ref_name
                    }
                )
            })
            .collect();
        if let Some(body) = &call.body_ref {
            out.push(format!("body {:?} {}", body.action, body.fields[0]));
        }
        Some(format!("{} | {}", call.request.repository, out.join(", ")))
    }

    #[test]
    fn ref_moving_calls() {
        #[rustfmt::skip]
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("PATCH", "/repos/o/r/git/refs/heads/main", Some("/repos/o/r | Update refs/heads/main")),
            ("patch", "/REPOS/o/r/GIT/Refs/heads/main/", Some("/repos/o/r | Update refs/heads/main")),
            ("POST", "/repos/o/r/git/refs/heads/main", Some("/repos/o/r | Update refs/heads/main")),
            ("DELETE", "/repos/o/r/git/refs/heads/feature/x", Some("/repos/o/r | Delete refs/heads/feature/x")),
            ("DELETE", "/repos/o/r/git/refs/tags/v1", Some("/repos/o/r | Delete refs/tags/v1")),
            ("PATCH", "/api/v3/repos/o/r/git/refs/heads/release/1.0", Some("/repos/o/r | Update refs/heads/release/1.0")),
            ("PATCH", "/repos/o/r/git/refs/heads%2Fmain", Some("/repos/o/r | Update refs/heads%2Fmain, Update refs/heads/main")),
            ("POST", "/repos/o/r/git/refs", Some("/repos/o/r | body Create ref")),
            ("POST", "/repos/o/r/merges", Some("/repos/o/r | body Update base")),
            ("POST", "/repos/o/r/merge-upstream", Some("/repos/o/r | body Update branch")),
            ("POST", "/repos/o/r/branches/main/rename", Some("/repos/o/r | Delete refs/heads/main, body Create new_name")),
            ("DELETE", "/api/v1/repos/o/r/branches/dev", Some("/repos/o/r | Delete refs/heads/dev")),
            ("DELETE", "/api/v1/repos/o/r/tags/v2", Some("/repos/o/r | Delete refs/tags/v2")),
            ("PUT", "/repos/o/r/pulls/7/merge", Some("/repos/o/r | Update ?")),
            ("PUT", "/repos/o/r/contents/README.md", Some("/repos/o/r | body Update branch")),
            ("DELETE", "/repos/o/r", Some("/repos/o/r | Delete ?")),
            ("DELETE", "/api/v4/projects/42/repository/branches/feature/x", Some("/projects/42 | Delete refs/heads/feature/x")),
            ("DELETE", "/api/v4/projects/42/repository/merged_branches", Some("/projects/42 | Delete ?")),
            ("POST", "/api/v4/projects/42/repository/commits", Some("/projects/42 | body Update branch")),
            ("PUT", "/api/v4/projects/42/merge_requests/3/merge", Some("/projects/42 | Update ?")),
            // Reads and settings are not ref moves.
            ("GET", "/repos/o/r/git/refs/heads/main", None),
            ("DELETE", "/repos/o/r/branches/main/protection", None),
            ("GET", "/repos/o/r", None),
            ("POST", "/repos/o/r/issues", None),
            ("PATCH", "/repos/o/r", None),
        ];
        for (method, path, expected) in cases {
            assert_eq!(
                describe(method, path).as_deref(),
                *expected,
                "{method} {path}"
            );
        }
    }

    #[test]
    fn body_refs() {
        let create = BodyRef {
            fields: REF_FIELD,
            action: RefAction::Create,
        };
        assert_eq!(
            body_update(&create, &json!({"ref": "refs/heads/main", "sha": "abc"})).ref_name,
            "refs/heads/main"
        );
        assert_eq!(body_update(&create, &json!({"sha": "abc"})).ref_name, "");
        assert_eq!(
            body_update(&create, &json!({"ref": "heads/main"})).ref_name,
            "refs/heads/main"
        );
        assert_eq!(
            body_update(&create, &json!({"ref": "tags/v1"})).ref_name,
            "refs/tags/v1"
        );
        let base = BodyRef {
            fields: BASE_FIELD,
            action: RefAction::Update,
        };
        assert_eq!(
            body_update(&base, &json!({"base": "main", "head": "x"})).ref_name,
            "refs/heads/main"
        );
        assert_eq!(body_update(&base, &json!({"base": 5})).ref_name, "");
        assert_eq!(
            body_update(&base, &json!({"Base": "master"})).ref_name,
            "refs/heads/master"
        );
    }
}
