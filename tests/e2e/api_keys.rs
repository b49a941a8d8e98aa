//! `/keys`: create, list with offset/limit bounds, update, revoke, IP allowlists, tokens.

use reqwest::Method;
use serde_json::json;

use crate::harness::{BOOTSTRAP, Options, Server, assert_error, send};

#[tokio::test]
async fn create_list_patch_delete_with_pagination_bounds() {
    let server = Server::start();
    let (status, keys) = server.get("/keys", BOOTSTRAP).await;
    assert_eq!(status, 200, "{keys}");
    assert_eq!(
        keys.as_array().unwrap().len(),
        1,
        "only the bootstrap key: {keys}"
    );

    let (secret, public) = server
        .create_key(
            BOOTSTRAP,
            json!({"alias": "ci", "ips": ["127.0.0.1", "10.0.0.0/8"]}),
        )
        .await;
    assert!(secret.starts_with("ks_") && public.starts_with("pk_"));
    for i in 0..3 {
        server
            .create_key(BOOTSTRAP, json!({"alias": format!("k{i}")}))
            .await;
    }

    // The list shows public identifiers only, never a secret.
    let (_, keys) = server.get("/keys", BOOTSTRAP).await;
    let keys = keys.as_array().unwrap().clone();
    assert_eq!(keys.len(), 5);
    let listed = keys.iter().find(|k| k["key"] == public.as_str()).unwrap();
    assert_eq!(listed["alias"], "ci");
    assert_eq!(listed["ips"], json!(["127.0.0.1", "10.0.0.0/8"]));
    assert!(!serde_json::to_string(&keys).unwrap().contains(&secret));

    // offset/limit page through the same order.
    let (_, page) = server.get("/keys?offset=1&limit=2", BOOTSTRAP).await;
    let page = page.as_array().unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(page[0]["key"], keys[1]["key"]);
    assert_eq!(page[1]["key"], keys[2]["key"]);
    let (_, tail) = server.get("/keys?offset=4&limit=64", BOOTSTRAP).await;
    assert_eq!(tail.as_array().unwrap().len(), 1);

    for query in ["limit=0", "limit=65", "limit=-1", "offset=-1", "limit=abc"] {
        let (status, body) = server.get(&format!("/keys?{query}"), BOOTSTRAP).await;
        assert_error(status, &body, 400, "bad_request");
    }
    let (status, body) = server.get("/keys?limit=65", BOOTSTRAP).await;
    assert_eq!(body["field"], "limit", "{body} {status}");

    // The new key works on its own.
    let (status, _) = server.get("/keys", &secret).await;
    assert_eq!(status, 200);

    // PATCH changes alias and ips; null clears the alias.
    let (status, patched) = server
        .patch(
            &format!("/keys/{public}"),
            BOOTSTRAP,
            json!({"alias": "ci-2", "ips": ["127.0.0.0/8"]}),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["alias"], "ci-2");
    assert_eq!(patched["ips"], json!(["127.0.0.0/8"]));
    let (_, patched) = server
        .patch(
            &format!("/keys/{public}"),
            BOOTSTRAP,
            json!({"alias": null}),
        )
        .await;
    assert!(patched["alias"].is_null());
    assert_eq!(
        patched["ips"],
        json!(["127.0.0.0/8"]),
        "ips left as they were"
    );
    let (status, body) = server
        .patch(
            &format!("/keys/{public}"),
            BOOTSTRAP,
            json!({"ips": ["not-an-ip"]}),
        )
        .await;
    let text = assert_error(status, &body, 400, "bad_request");
    assert!(text.contains("ips[0]"), "{text}");

    // DELETE revokes: the answer of the reference API, then the key stops working.
    let (status, body) = server.delete(&format!("/keys/{public}"), BOOTSTRAP).await;
    assert_eq!((status, body), (200, json!({"revoked": true})));
    let (status, body) = server.get("/keys", &secret).await;
    assert_error(status, &body, 401, "unauthorized");
    let (status, body) = server.delete(&format!("/keys/{public}"), BOOTSTRAP).await;
    assert_error(status, &body, 404, "not_found");
    let (_, keys) = server.get("/keys", BOOTSTRAP).await;
    assert_eq!(keys.as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn bearer_tokens_work_until_the_key_is_revoked() {
    let server = Server::start();
    let (status, created) = server
        .post(
            "/keys",
            BOOTSTRAP,
            json!({"alias": "jwt", "role": "auditor"}),
        )
        .await;
    assert_eq!(status, 200);
    let jwt = created["jwt"].as_str().unwrap();
    let public = created["publicKey"].as_str().unwrap();
    assert_eq!(jwt.split('.').count(), 3);

    let get = |token: &str| {
        server
            .client
            .get(format!("{}/keys", server.base))
            .bearer_auth(token.to_owned())
    };
    let (status, _) = send(get(jwt)).await;
    assert_eq!(status, 200);
    // The secret works as a bearer too.
    let (status, _) = send(get(created["key"].as_str().unwrap())).await;
    assert_eq!(status, 200);
    // A token exchange mints a fresh one.
    let (status, token) = send(
        server
            .client
            .post(format!("{}/api/v1/auth/token", server.base))
            .bearer_auth(jwt.to_owned()),
    )
    .await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(token["tokenType"], "Bearer");

    // A tampered token is refused.
    let mut tampered = jwt.to_owned();
    tampered.pop();
    tampered.push(if jwt.ends_with('A') { 'B' } else { 'A' });
    let (status, body) = send(get(&tampered)).await;
    assert_error(status, &body, 401, "unauthorized");

    server.delete(&format!("/keys/{public}"), BOOTSTRAP).await;
    let (status, body) = send(get(jwt)).await;
    assert_error(status, &body, 401, "unauthorized");

    for bad in ["Basic abc", "Bearer", "Bearer    "] {
        let (status, body) = send(
            server
                .client
                .get(format!("{}/keys", server.base))
                .header("Authorization", bad),
        )
        .await;
        assert_error(status, &body, 401, "unauthorized");
    }
    let (status, body) = send(server.client.get(format!("{}/keys", server.base))).await;
    let text = assert_error(status, &body, 401, "unauthorized");
    assert!(text.contains("X-API-Key"), "{text}");
}

#[tokio::test]
async fn ip_allowlist_is_enforced_and_forwarded_for_is_ignored_from_untrusted_peers() {
    let server = Server::start();
    let (elsewhere, _) = server
        .create_key(
            BOOTSTRAP,
            json!({"alias": "far", "ips": ["203.0.113.7", "198.51.100.0/24"]}),
        )
        .await;
    let (local, _) = server
        .create_key(BOOTSTRAP, json!({"alias": "near", "ips": ["127.0.0.0/8"]}))
        .await;

    let (status, body) = server.get("/keys", &elsewhere).await;
    let text = assert_error(status, &body, 403, "forbidden");
    assert!(
        text.contains("127.0.0.1") && text.contains("allowlist"),
        "{text}"
    );
    // Claiming an allowed address in X-Forwarded-For does not help: no proxy is trusted.
    let (status, _) = send(
        server
            .request(Method::GET, "/keys", &elsewhere)
            .header("X-Forwarded-For", "203.0.113.7"),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = server.get("/keys", &local).await;
    assert_eq!(status, 200);

    let (_, events) = server
        .get("/api/v1/audit-events?action=auth.ip_denied", BOOTSTRAP)
        .await;
    assert_eq!(events["pagination"]["total"], 2, "{events}");
    assert_eq!(events["data"][0]["outcome"], "denied");
}

#[tokio::test]
async fn forwarded_for_counts_from_a_trusted_proxy() {
    let server = Server::start_with(Options {
        config: "[auth]\ntrusted_proxies = [\"127.0.0.1/32\"]\n".into(),
        ..Options::default()
    });
    let (key, _) = server
        .create_key(
            BOOTSTRAP,
            json!({"alias": "behind-proxy", "ips": ["203.0.113.7"]}),
        )
        .await;
    let via = |xff: &str| {
        server
            .request(Method::GET, "/keys", &key)
            .header("X-Forwarded-For", xff.to_owned())
    };
    assert_eq!(send(via("203.0.113.7")).await.0, 200);
    // A client-supplied left-most entry is not trusted; the proxy-appended one is.
    assert_eq!(send(via("203.0.113.7, 198.51.100.1")).await.0, 403);
    assert_eq!(
        server.get("/keys", &key).await.0,
        403,
        "the proxy itself is not allowed"
    );
}

#[tokio::test]
async fn keys_cannot_exceed_their_creator() {
    let server = Server::start();
    let operator = server.key_with_role("operator").await;
    let (status, body) = server
        .post("/keys", &operator, json!({"role": "admin"}))
        .await;
    assert_error(status, &body, 403, "forbidden");

    let (creator, _) = server
        .create_key(
            BOOTSTRAP,
            json!({"permissions": ["api_keys:*", "keys:read"]}),
        )
        .await;
    let (status, body) = server
        .post("/keys", &creator, json!({"permissions": ["keys:write"]}))
        .await;
    let text = assert_error(status, &body, 403, "forbidden");
    assert!(text.contains("keys:write"), "{text}");
    let (status, created) = server
        .post("/keys", &creator, json!({"permissions": ["keys:read"]}))
        .await;
    assert_eq!(status, 200, "{created}");

    let (status, body) = server
        .post("/keys", BOOTSTRAP, json!({"permissions": ["keys:destroy"]}))
        .await;
    assert_eq!(
        assert_error(status, &body, 400, "bad_request"),
        "permissions[0]: 'keys:destroy' is not a known permission"
    );
    let (status, body) = server
        .post("/keys", BOOTSTRAP, json!({"role": "root"}))
        .await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = server
        .post(
            "/keys",
            BOOTSTRAP,
            json!({"expires": "2001-01-01T00:00:00Z"}),
        )
        .await;
    assert_error(status, &body, 400, "bad_request");
}
