//! Each role's allowed and denied calls; a 403 names the missing permission and is audited.

use serde_json::json;

use crate::harness::{BOOTSTRAP, Server, assert_error};

/// (role, call, expected status). Calls: list keys, create a key, read the audit log,
/// create a project, list projects.
#[tokio::test]
async fn each_role_gets_what_its_bundle_says() {
    let server = Server::start();
    let roles = ["admin", "operator", "requester", "auditor"];
    let mut keys = Vec::new();
    for role in roles {
        keys.push((role, server.key_with_role(role).await));
    }
    // (call, permission it needs, roles allowed)
    let matrix: [(&str, &str, &[&str]); 5] = [
        ("GET /keys", "api_keys:read", &["admin", "auditor"]),
        ("POST /keys", "api_keys:write", &["admin"]),
        (
            "GET /api/v1/audit-events",
            "audit:read",
            &["admin", "auditor"],
        ),
        ("POST /api/v1/projects", "projects:write", &["admin"]),
        (
            "GET /api/v1/projects",
            "projects:read",
            &["admin", "operator", "requester", "auditor"],
        ),
    ];
    let mut project = 0;
    for (call, permission, allowed) in matrix {
        for (role, key) in &keys {
            let (status, body) = match call {
                "GET /keys" => server.get("/keys", key).await,
                "POST /keys" => server.post("/keys", key, json!({"alias": "x"})).await,
                "GET /api/v1/audit-events" => server.get("/api/v1/audit-events", key).await,
                "POST /api/v1/projects" => {
                    project += 1;
                    server
                        .post(
                            "/api/v1/projects",
                            key,
                            json!({"name": format!("p{project}")}),
                        )
                        .await
                }
                "GET /api/v1/projects" => server.get("/api/v1/projects", key).await,
                _ => unreachable!(),
            };
            if allowed.contains(role) {
                assert!(
                    status == 200 || status == 201,
                    "{role} {call}: {status} {body}"
                );
            } else {
                let text = assert_error(status, &body, 403, "forbidden");
                assert!(text.contains(permission), "{role} {call}: {text}");
            }
        }
    }

    // Every denial is in the audit log, with who and which permission.
    let (_, events) = server
        .get(
            "/api/v1/audit-events?action=permission.denied&per_page=100",
            BOOTSTRAP,
        )
        .await;
    let denied = events["data"].as_array().unwrap();
    let expected_denials = 2 + 3 + 2 + 3;
    assert_eq!(denied.len(), expected_denials, "{events}");
    assert!(
        denied
            .iter()
            .all(|e| e["outcome"] == "denied" && e["severity"] == "medium")
    );
    assert!(denied.iter().any(|e| e["target"] == "audit:read"));
}

#[tokio::test]
async fn only_platform_admins_manage_organizations() {
    let server = Server::start();
    let admin = server.key_with_role("admin").await;
    let (status, body) = server
        .post("/api/v1/organizations", &admin, json!({"name": "acme"}))
        .await;
    let text = assert_error(status, &body, 403, "forbidden");
    assert!(text.contains("platform:admin"), "{text}");
    let (status, org) = server
        .post("/api/v1/organizations", BOOTSTRAP, json!({"name": "acme"}))
        .await;
    assert_eq!(status, 201, "{org}");
    // An organization admin sees only its own organization.
    let (_, list) = server.get("/api/v1/organizations", &admin).await;
    assert_eq!(list["pagination"]["total"], 1);
    assert_eq!(list["data"][0]["name"], "default");
    let (_, list) = server.get("/api/v1/organizations", BOOTSTRAP).await;
    assert_eq!(list["pagination"]["total"], 2);
}
