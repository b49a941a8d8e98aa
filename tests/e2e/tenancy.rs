//! Organizations -> projects -> environments, and isolation between tenants.

use serde_json::json;

use crate::harness::{BOOTSTRAP, Server, assert_error};

#[tokio::test]
async fn projects_and_environments_crud_with_unique_names() {
    let server = Server::start();
    let (status, project) = server
        .post(
            "/api/v1/projects",
            BOOTSTRAP,
            json!({"name": "payments", "description": "PSP"}),
        )
        .await;
    assert_eq!(status, 201, "{project}");
    let id = project["id"].as_str().unwrap();
    let (status, body) = server
        .post("/api/v1/projects", BOOTSTRAP, json!({"name": "payments"}))
        .await;
    assert_error(status, &body, 409, "conflict");
    let (status, body) = server
        .post("/api/v1/projects", BOOTSTRAP, json!({"name": "bad name"}))
        .await;
    assert_eq!(
        assert_error(status, &body, 400, "bad_request")
            .split(':')
            .next(),
        Some("name")
    );
    let (status, body) = server
        .post("/api/v1/projects", BOOTSTRAP, json!({"nmae": "x"}))
        .await;
    assert!(assert_error(status, &body, 400, "bad_request").contains("nmae"));

    let (_, list) = server
        .get("/api/v1/projects?per_page=1&page=2", BOOTSTRAP)
        .await;
    assert_eq!(
        list["pagination"],
        json!({"page": 2, "per_page": 1, "total": 2})
    );
    let (status, body) = server.get("/api/v1/projects?per_page=101", BOOTSTRAP).await;
    assert_error(status, &body, 400, "bad_request");

    let (status, updated) = server
        .put(
            &format!("/api/v1/projects/{id}"),
            BOOTSTRAP,
            json!({"description": null}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(updated["description"].is_null());
    assert_eq!(updated["name"], "payments");

    let envs = format!("/api/v1/projects/{id}/environments");
    let (status, env) = server
        .post(&envs, BOOTSTRAP, json!({"name": "production"}))
        .await;
    assert_eq!(status, 201, "{env}");
    let (status, body) = server
        .post(&envs, BOOTSTRAP, json!({"name": "production"}))
        .await;
    assert_error(status, &body, 409, "conflict");
    server
        .post(&envs, BOOTSTRAP, json!({"name": "staging"}))
        .await;
    let (_, list) = server.get(&envs, BOOTSTRAP).await;
    assert_eq!(list["pagination"]["total"], 2);
    // By name or by id.
    let (status, by_name) = server.get(&format!("{envs}/production"), BOOTSTRAP).await;
    assert_eq!(status, 200);
    assert_eq!(by_name["id"], env["id"]);
    let (status, renamed) = server
        .put(
            &format!("{envs}/production"),
            BOOTSTRAP,
            json!({"name": "prod"}),
        )
        .await;
    assert_eq!((status, renamed["name"].as_str()), (200, Some("prod")));
    let (status, _) = server.delete(&format!("{envs}/prod"), BOOTSTRAP).await;
    assert_eq!(status, 204);
    let (status, _) = server.get(&format!("{envs}/prod"), BOOTSTRAP).await;
    assert_eq!(status, 404);

    let (status, _) = server
        .delete(&format!("/api/v1/projects/{id}"), BOOTSTRAP)
        .await;
    assert_eq!(status, 204);
    let (status, body) = server
        .get(&format!("/api/v1/projects/{id}"), BOOTSTRAP)
        .await;
    assert_error(status, &body, 404, "not_found");
}

#[tokio::test]
async fn the_default_tenant_exists_with_its_environments() {
    let server = Server::start();
    let (_, projects) = server.get("/api/v1/projects", BOOTSTRAP).await;
    assert_eq!(projects["data"][0]["name"], "default");
    let id = projects["data"][0]["id"].as_str().unwrap();
    let (_, envs) = server
        .get(&format!("/api/v1/projects/{id}/environments"), BOOTSTRAP)
        .await;
    let names: Vec<_> = envs["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("production"), json!("staging")]);
}

#[tokio::test]
async fn another_tenants_ids_answer_404() {
    let server = Server::start();
    // Organization B, with its own admin key and project.
    let (_, org_b) = server
        .post("/api/v1/organizations", BOOTSTRAP, json!({"name": "org-b"}))
        .await;
    let org_b_id = org_b["id"].as_str().unwrap();
    let (b_key, b_public) = server
        .create_key(
            BOOTSTRAP,
            json!({"organization_id": org_b_id, "role": "admin"}),
        )
        .await;
    let (status, b_project) = server
        .post(
            "/api/v1/projects",
            &b_key,
            json!({"name": "secret-project"}),
        )
        .await;
    assert_eq!(status, 201);
    let b_project = b_project["id"].as_str().unwrap();
    assert_eq!(
        server
            .get(&format!("/api/v1/projects/{b_project}"), &b_key)
            .await
            .0,
        200
    );

    // Organization A's admin key (the default tenant).
    let a_key = server.key_with_role("admin").await;
    for path in [
        format!("/api/v1/projects/{b_project}"),
        format!("/api/v1/projects/{b_project}/environments"),
        format!("/api/v1/organizations/{org_b_id}"),
    ] {
        let (status, body) = server.get(&path, &a_key).await;
        assert_error(status, &body, 404, "not_found");
    }
    let (status, _) = server
        .put(
            &format!("/api/v1/projects/{b_project}"),
            &a_key,
            json!({"name": "mine"}),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        server
            .delete(&format!("/api/v1/projects/{b_project}"), &a_key)
            .await
            .0,
        404
    );
    assert_eq!(
        server
            .patch(&format!("/keys/{b_public}"), &a_key, json!({"alias": "x"}))
            .await
            .0,
        404
    );
    assert_eq!(
        server.delete(&format!("/keys/{b_public}"), &a_key).await.0,
        404
    );
    // Same project name in two tenants is fine; lists never mix.
    assert_eq!(
        server
            .post(
                "/api/v1/projects",
                &a_key,
                json!({"name": "secret-project"})
            )
            .await
            .0,
        201
    );
    let (_, a_projects) = server.get("/api/v1/projects", &a_key).await;
    assert!(
        a_projects["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["id"] != b_project)
    );
    let (_, b_keys) = server.get("/keys", &b_key).await;
    assert_eq!(b_keys.as_array().unwrap().len(), 1);
    // B's own key still works on B's project: nothing changed.
    assert_eq!(
        server
            .get(&format!("/api/v1/projects/{b_project}"), &b_key)
            .await
            .1["name"],
        "secret-project"
    );

    // A project-scoped key sees only its project.
    let (_, a_projects) = server.get("/api/v1/projects", BOOTSTRAP).await;
    let default_project = a_projects["data"][0]["id"].as_str().unwrap().to_owned();
    let other = a_projects["data"][1]["id"].as_str().unwrap().to_owned();
    let (scoped, _) = server
        .create_key(
            BOOTSTRAP,
            json!({"role": "requester", "projectId": default_project}),
        )
        .await;
    let (_, seen) = server.get("/api/v1/projects", &scoped).await;
    assert_eq!(seen["pagination"]["total"], 1);
    assert_eq!(
        server
            .get(&format!("/api/v1/projects/{other}"), &scoped)
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn organizations_with_projects_cannot_be_deleted() {
    let server = Server::start();
    let (_, org) = server
        .post("/api/v1/organizations", BOOTSTRAP, json!({"name": "temp"}))
        .await;
    let id = org["id"].as_str().unwrap();
    let (key, _) = server
        .create_key(BOOTSTRAP, json!({"organization_id": id, "role": "admin"}))
        .await;
    let (_, project) = server
        .post("/api/v1/projects", &key, json!({"name": "p"}))
        .await;
    let (status, body) = server
        .delete(&format!("/api/v1/organizations/{id}"), BOOTSTRAP)
        .await;
    assert_error(status, &body, 409, "conflict");
    server
        .delete(
            &format!("/api/v1/projects/{}", project["id"].as_str().unwrap()),
            &key,
        )
        .await;
    assert_eq!(
        server
            .delete(&format!("/api/v1/organizations/{id}"), BOOTSTRAP)
            .await
            .0,
        204
    );
    // Its keys went with it.
    assert_eq!(server.get("/api/v1/projects", &key).await.0, 401);
}
