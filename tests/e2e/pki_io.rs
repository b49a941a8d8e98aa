//! Certificate export and import (reference 001) and the mTLS certificate API
//! (reference 000), checked with the OpenSSL command line.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{BOOTSTRAP, Options, Server, assert_error, file_contains, read};
use crate::pki::{Scratch, default_project, hierarchy, submit};

/// GET a file: (status, headers, bytes).
async fn fetch(server: &Server, path: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let response = server
        .request(Method::GET, path, BOOTSTRAP)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

/// GET expecting an error in the shared shape.
async fn fetch_error(server: &Server, path: &str, status: u16, code: &str) -> Value {
    let response = server
        .request(Method::GET, path, BOOTSTRAP)
        .send()
        .await
        .unwrap();
    let (got, body) = read(response).await;
    assert_error(got, &body, status, code);
    body
}

fn count(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

/// The total of the certificate list.
async fn total(server: &Server) -> i64 {
    let (status, list) = server.get("/api/v1/certificates", BOOTSTRAP).await;
    assert_eq!(status, 200, "{list}");
    list["pagination"]["total"].as_i64().unwrap()
}

/// A multipart form: `(name, file name, bytes)`; returns (content type, body).
fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "keystead-test-boundary-7d1f";
    let mut body = Vec::new();
    for (name, file_name, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file_name {
            Some(file) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(
    server: &Server,
    path: &str,
    parts: &[(&str, Option<&str>, &[u8])],
) -> (u16, Value) {
    let (content_type, body) = multipart(parts);
    let response = server
        .request(Method::POST, path, BOOTSTRAP)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    read(response).await
}

/// An outside CA and a leaf it signed, made by OpenSSL: `ca.pem`, `leaf.pem`, `leaf.key`.
fn outside_chain(scratch: &Scratch, cn: &str) {
    let (ok, text) = scratch.openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "365",
        "-subj",
        "/CN=Outside CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    assert!(ok, "{text}");
    let (ok, text) = scratch.openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        &format!("/CN={cn}/O=Outside"),
    ]);
    assert!(ok, "{text}");
    scratch.write(
        "leaf.ext",
        format!("subjectAltName=DNS:{cn}\nextendedKeyUsage=serverAuth\n"),
    );
    let (ok, text) = scratch.openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "90",
        "-extfile",
        "leaf.ext",
        "-out",
        "leaf.pem",
    ]);
    assert!(ok, "{text}");
}

/// A self-signed certificate and its key (PEM), made by OpenSSL.
fn self_signed(scratch: &Scratch, name: &str) -> (String, String) {
    let (ok, text) = scratch.openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &format!("{name}.key"),
        "-out",
        &format!("{name}.pem"),
        "-days",
        "30",
        "-subj",
        &format!("/CN={name}.example.com"),
    ]);
    assert!(ok, "{text}");
    (
        std::fs::read_to_string(scratch.path(&format!("{name}.pem"))).unwrap(),
        std::fs::read_to_string(scratch.path(&format!("{name}.key"))).unwrap(),
    )
}

fn read_file(scratch: &Scratch, name: &str) -> String {
    std::fs::read_to_string(scratch.path(name)).unwrap()
}

/// The public key OpenSSL reads from a certificate or a private key file.
fn public_key(scratch: &Scratch, args: &[&str]) -> String {
    let (ok, text) = scratch.openssl(args);
    assert!(ok, "{text}");
    text
}

#[tokio::test]
async fn exports_are_read_by_openssl_and_key_exports_are_audited() {
    let server = Server::start();
    let scratch = Scratch::new();
    let (root, inter, template) = hierarchy(&server, BOOTSTRAP, json!({})).await;
    let project = default_project(&server, BOOTSTRAP).await;
    let (status, generated) = submit(&server, BOOTSTRAP, json!({
        "template_id": template["id"], "project_id": project, "csr_source_mode": "mazevault_generated",
        "requested_cn": "gen.example.com", "requested_san": {"dns_names": ["gen.example.com"]},
    }))
    .await;
    assert_eq!(status, 201, "{generated}");
    let id = generated["id"].as_str().unwrap();
    let csr = scratch.csr("up.csr", "/CN=up.example.com", "DNS:up.example.com");
    let (status, uploaded) = submit(&server, BOOTSTRAP, json!({
        "template_id": template["id"], "project_id": project, "csr_source_mode": "uploaded_csr", "csr_pem": csr,
    }))
    .await;
    assert_eq!(status, 201, "{uploaded}");
    let uploaded_id = uploaded["id"].as_str().unwrap();
    scratch.write("root.pem", root["certificate_pem"].as_str().unwrap());
    scratch.write("inter.pem", inter["certificate_pem"].as_str().unwrap());

    // PEM, by default with the chain and without the key.
    let (status, headers, body) =
        fetch(&server, &format!("/api/v1/certificates/{id}/export")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/x-pem-file");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("gen.example.com.pem")
    );
    let text = String::from_utf8(body).unwrap();
    assert_eq!(count(&text, "BEGIN CERTIFICATE"), 3, "{text}");
    assert!(!text.contains("PRIVATE KEY"));
    scratch.write("full.pem", &text);
    let (ok, out) = scratch.openssl(&[
        "verify",
        "-CAfile",
        "root.pem",
        "-untrusted",
        "full.pem",
        "full.pem",
    ]);
    assert!(ok && out.contains("OK"), "{out}");
    let (_, _, body) = fetch(
        &server,
        &format!("/api/v1/certificates/{id}/export?format=pem&include_chain=false"),
    )
    .await;
    assert_eq!(
        count(&String::from_utf8(body).unwrap(), "BEGIN CERTIFICATE"),
        1
    );

    // DER: the certificate alone.
    let (status, headers, body) = fetch(
        &server,
        &format!("/api/v1/certificates/{id}/export?format=der"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/pkix-cert");
    scratch.write("leaf.der", &body);
    let (ok, out) = scratch.openssl(&[
        "x509", "-inform", "DER", "-in", "leaf.der", "-noout", "-subject",
    ]);
    assert!(ok && out.contains("gen.example.com"), "{out}");

    // PEM with the key: the key belongs to the certificate.
    let (status, _, body) = fetch(
        &server,
        &format!("/api/v1/certificates/{id}/export?include_key=true&include_chain=false"),
    )
    .await;
    assert_eq!(status, 200);
    scratch.write("with-key.pem", &body);
    assert_eq!(
        public_key(
            &scratch,
            &["x509", "-in", "with-key.pem", "-noout", "-pubkey"]
        ),
        public_key(&scratch, &["pkey", "-in", "with-key.pem", "-pubout"]),
    );

    // PKCS #12 with the key and chain, read by OpenSSL 3 without -legacy.
    let (status, headers, body) = fetch(
        &server,
        &format!(
            "/api/v1/certificates/{id}/export?format=pkcs12&include_key=true&password=s3cr3t-pw"
        ),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["content-type"], "application/x-pkcs12");
    assert_eq!(headers["cache-control"], "no-store");
    scratch.write("bundle.p12", &body);
    let (ok, out) = scratch.openssl(&[
        "pkcs12",
        "-info",
        "-in",
        "bundle.p12",
        "-passin",
        "pass:s3cr3t-pw",
        "-nokeys",
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("MAC: sha256"), "{out}");
    assert!(out.contains("PBES2, PBKDF2, AES-256-CBC"), "{out}");
    assert_eq!(count(&out, "BEGIN CERTIFICATE"), 3, "{out}");
    let (ok, out) = scratch.openssl(&[
        "pkcs12",
        "-in",
        "bundle.p12",
        "-passin",
        "pass:s3cr3t-pw",
        "-nodes",
        "-out",
        "p12.pem",
    ]);
    assert!(ok, "{out}");
    assert!(read_file(&scratch, "p12.pem").contains("PRIVATE KEY"));
    assert_eq!(
        public_key(&scratch, &["pkey", "-in", "p12.pem", "-pubout"]),
        public_key(
            &scratch,
            &["x509", "-in", "with-key.pem", "-noout", "-pubkey"]
        ),
    );
    let (ok, out) = scratch.openssl(&[
        "pkcs12",
        "-info",
        "-in",
        "bundle.p12",
        "-passin",
        "pass:wrong",
        "-nokeys",
    ]);
    assert!(!ok && out.contains("Mac verify error"), "{out}");

    // PKCS #12 of a certificate whose key the client holds: certificates only.
    let (status, _, body) = fetch(
        &server,
        &format!("/api/v1/certificates/{uploaded_id}/export?format=pkcs12&password=pw"),
    )
    .await;
    assert_eq!(status, 200);
    scratch.write("certs.p12", &body);
    let (ok, out) = scratch.openssl(&[
        "pkcs12",
        "-info",
        "-in",
        "certs.p12",
        "-passin",
        "pass:pw",
        "-nokeys",
    ]);
    assert!(ok && count(&out, "BEGIN CERTIFICATE") == 3, "{out}");

    // Bad requests: each a clear 4xx.
    let body = fetch_error(
        &server,
        &format!("/api/v1/certificates/{uploaded_id}/export?include_key=true"),
        409,
        "conflict",
    )
    .await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("private key is not held here")
    );
    let body = fetch_error(
        &server,
        &format!("/api/v1/certificates/{id}/export?format=pkcs12"),
        400,
        "bad_request",
    )
    .await;
    assert_eq!(body["field"], "password");
    let body = fetch_error(
        &server,
        &format!("/api/v1/certificates/{id}/export?format=xml"),
        400,
        "bad_request",
    )
    .await;
    assert_eq!(body["field"], "format");
    fetch_error(
        &server,
        &format!("/api/v1/certificates/{id}/export?include_key=maybe"),
        400,
        "bad_request",
    )
    .await;
    fetch_error(
        &server,
        &format!("/api/v1/certificates/{id}/export?format=der&include_key=true"),
        400,
        "bad_request",
    )
    .await;
    fetch_error(
        &server,
        "/api/v1/certificates/nope/export",
        404,
        "not_found",
    )
    .await;

    // Only the two exports with the key are recorded, as high-severity events, without the password.
    let (_, events) = server
        .get("/api/v1/audit-events?action=certificate.export", BOOTSTRAP)
        .await;
    let events = events["data"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    for event in events {
        assert_eq!(event["severity"], "high");
        assert_eq!(event["target"], id);
        assert!(!event.to_string().contains("s3cr3t"), "{event}");
    }
    assert!(
        !server.logs().contains("s3cr3t-pw"),
        "the password reached the log"
    );
}

#[tokio::test]
async fn import_one_certificate_with_its_key_and_chain_then_export_it() {
    let server = Server::start();
    let scratch = Scratch::new();
    let project = default_project(&server, BOOTSTRAP).await;
    outside_chain(&scratch, "outside.example.com");
    let certificate_pem = read_file(&scratch, "leaf.pem");
    let key_pem = read_file(&scratch, "leaf.key");
    let chain_pem = read_file(&scratch, "ca.pem");
    let (_, other_key) = self_signed(&scratch, "other");

    // Bad input first: each a clear 4xx, and nothing is written.
    let import = |body: Value| {
        let mut full = json!({"project_id": project});
        full.as_object_mut()
            .unwrap()
            .extend(body.as_object().unwrap().clone());
        server.post("/api/v1/certificates/import", BOOTSTRAP, full)
    };
    let (status, body) =
        import(json!({"certificate_pem": certificate_pem, "private_key_pem": other_key})).await;
    assert!(assert_error(status, &body, 400, "bad_request").contains("does not belong"));
    assert_eq!(body["field"], "private_key_pem");
    let (status, body) = import(
        json!({"certificate_pem": certificate_pem, "chain_pem": read_file(&scratch, "other.pem")}),
    )
    .await;
    assert_error(status, &body, 400, "bad_request");
    assert_eq!(body["field"], "chain_pem");
    let (status, body) = import(json!({"certificate_pem": "hello"})).await;
    assert_error(status, &body, 400, "bad_request");
    assert_eq!(body["field"], "certificate_pem");
    let garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let (status, body) = import(json!({"certificate_pem": garbage})).await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) =
        import(json!({"certificate_pem": certificate_pem, "private_key_pem": "not a key"})).await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = server
        .post(
            "/api/v1/certificates/import",
            BOOTSTRAP,
            json!({"certificate_pem": certificate_pem}),
        )
        .await;
    assert_eq!(body["field"], "project_id", "{status} {body}");
    assert_eq!(total(&server).await, 0);

    // The real thing.
    let (status, imported) = import(json!({
        "certificate_pem": certificate_pem, "private_key_pem": key_pem, "chain_pem": chain_pem,
    }))
    .await;
    assert_eq!(status, 201, "{imported}");
    assert_eq!(imported["source"], "imported");
    assert_eq!(imported["status"], "active");
    assert_eq!(imported["common_name"], "outside.example.com");
    assert_eq!(imported["issuer_cn"], "Outside CA");
    assert_eq!(imported["san"], json!(["outside.example.com"]));
    assert_eq!(imported["key_type"], "ECDSA-P256");
    assert_eq!(imported["has_private_key"], true);
    let id = imported["id"].as_str().unwrap();
    let (_, listed) = server
        .get("/api/v1/certificates?source=imported", BOOTSTRAP)
        .await;
    assert_eq!(listed["data"][0]["id"], id, "{listed}");
    let (status, got) = server
        .get(&format!("/api/v1/certificates/{id}"), BOOTSTRAP)
        .await;
    assert_eq!(status, 200);
    assert_eq!(got["status"], "active");

    // Importing it again is a conflict that names the copy held.
    let (status, body) = import(json!({"certificate_pem": certificate_pem})).await;
    assert!(assert_error(status, &body, 409, "conflict").contains(id));
    assert_eq!(total(&server).await, 1);

    // The key was sealed, and it exports with the chain it came with.
    let (_, _, body) = fetch(
        &server,
        &format!("/api/v1/certificates/{id}/export?format=pkcs12&include_key=true&password=pw"),
    )
    .await;
    scratch.write("imported.p12", &body);
    let (ok, out) = scratch.openssl(&[
        "pkcs12",
        "-in",
        "imported.p12",
        "-passin",
        "pass:pw",
        "-nodes",
    ]);
    assert!(ok, "{out}");
    assert_eq!(count(&out, "BEGIN CERTIFICATE"), 2, "{out}");
    scratch.write("from-p12.pem", &out);
    assert_eq!(
        public_key(&scratch, &["pkey", "-in", "from-p12.pem", "-pubout"]),
        public_key(&scratch, &["pkey", "-in", "leaf.key", "-pubout"]),
    );

    // A SEC 1 key (`openssl ecparam -genkey`) and an expired certificate.
    let (ok, out) = scratch.openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        "sec1.key",
    ]);
    assert!(ok, "{out}");
    let (ok, out) = scratch.openssl(&[
        "req",
        "-x509",
        "-key",
        "sec1.key",
        "-out",
        "sec1.pem",
        "-days",
        "10",
        "-subj",
        "/CN=sec1.example.com",
    ]);
    assert!(ok, "{out}");
    assert!(read_file(&scratch, "sec1.key").contains("BEGIN EC"));
    let (status, body) = import(json!({
        "certificate_pem": read_file(&scratch, "sec1.pem"), "private_key_pem": read_file(&scratch, "sec1.key"),
    }))
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["has_private_key"], true);

    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["old.example.com".to_owned()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let expired = params.self_signed(&key).unwrap();
    let (status, body) = import(json!({"certificate_pem": expired.pem()})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "expired");
    assert_eq!(body["has_private_key"], false);
    let (_, listed) = server
        .get("/api/v1/certificates?status=expired", BOOTSTRAP)
        .await;
    assert_eq!(listed["pagination"]["total"], 1, "{listed}");

    // Imported keys are sealed at rest like generated ones.
    let mut server = server;
    server.stop();
    for file in [server.db_path(), server.db_path().with_extension("db-wal")] {
        assert!(!file_contains(&file, b"PRIVATE KEY"), "{}", file.display());
    }
}

#[tokio::test]
async fn bulk_import_reports_each_certificate_and_skips_duplicates() {
    let server = Server::start();
    let scratch = Scratch::new();
    let project = default_project(&server, BOOTSTRAP).await;
    let (one, _) = self_signed(&scratch, "one");
    let (two, two_key) = self_signed(&scratch, "two");
    let (three, _) = self_signed(&scratch, "three");
    let (four, _) = self_signed(&scratch, "four");
    let (_, stray_key) = self_signed(&scratch, "stray");
    let broken = "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n";
    let bulk = |bundle: String| {
        server.post(
            "/api/v1/certificates/import/bulk",
            BOOTSTRAP,
            json!({"project_id": project, "pem_bundle": bundle}),
        )
    };

    // Too many certificates: a 413 that writes nothing; so does a body over the size limit.
    let (status, body) = bulk(one.repeat(501)).await;
    assert!(assert_error(status, &body, 413, "payload_too_large").contains("500"));
    // A body over the server's limit, as JSON or as a file upload, is a 413 too.
    let small = Server::start_with(Options {
        config: "max_body_bytes = 4096\n".into(),
        ..Options::default()
    });
    let padded = format!("{one}{}", " ".repeat(8 * 1024));
    let (status, body) = small
        .post(
            "/api/v1/certificates/import/bulk",
            BOOTSTRAP,
            json!({"project_id": default_project(&small, BOOTSTRAP).await, "pem_bundle": padded}),
        )
        .await;
    assert_error(status, &body, 413, "payload_too_large");
    let (status, body) = upload(
        &small,
        "/api/v1/certificates/import/file",
        &[("file", Some("big.pem"), padded.as_bytes())],
    )
    .await;
    assert_error(status, &body, 413, "payload_too_large");
    assert_eq!(total(&small).await, 0);
    let (status, body) = bulk("no certificates here".into()).await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = bulk(broken.into()).await;
    let description = assert_error(status, &body, 422, "unprocessable_entity");
    assert!(description.contains("not a valid X.509"), "{description}");
    assert_eq!(total(&server).await, 0);

    let (status, report) = bulk(format!(
        "{one}{two}{one}{broken}{two_key}{three}{stray_key}"
    ))
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["imported"], 3, "{report}");
    assert_eq!(report["duplicates"], 1);
    assert_eq!(report["failed"], 2);
    let results = report["results"].as_array().unwrap();
    let statuses: Vec<&str> = results
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "imported",
            "imported",
            "duplicate",
            "failed",
            "imported",
            "failed"
        ]
    );
    assert_eq!(results[2]["id"], results[0]["id"]);
    assert_eq!(results[1]["certificate"]["has_private_key"], true);
    assert!(
        results[5]["error"]
            .as_str()
            .unwrap()
            .contains("belongs to no certificate")
    );
    assert_eq!(total(&server).await, 3);

    // Again, with one new certificate: the others are duplicates, not imported twice.
    let (status, report) = bulk(format!("{one}{two}{four}")).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["imported"], 1);
    assert_eq!(report["duplicates"], 2);
    assert_eq!(total(&server).await, 4);
    let (_, imported) = server
        .get("/api/v1/certificates?source=imported", BOOTSTRAP)
        .await;
    assert_eq!(imported["pagination"]["total"], 4);
}

#[tokio::test]
async fn file_uploads_of_pem_der_and_pkcs12_and_their_bad_inputs() {
    let server = Server::start();
    let scratch = Scratch::new();
    let project = default_project(&server, BOOTSTRAP).await;
    outside_chain(&scratch, "file.example.com");
    let (ok, out) = scratch.openssl(&[
        "pkcs12",
        "-export",
        "-in",
        "leaf.pem",
        "-inkey",
        "leaf.key",
        "-certfile",
        "ca.pem",
        "-name",
        "file",
        "-passout",
        "pass:pfx-pw",
        "-out",
        "leaf.p12",
    ]);
    assert!(ok, "{out}");
    let p12 = std::fs::read(scratch.path("leaf.p12")).unwrap();
    let path = "/api/v1/certificates/import/file";
    let project_part: (&str, Option<&str>, &[u8]) = ("project_id", None, project.as_bytes());

    // Bad input: each a clear 4xx, nothing written.
    let (status, body) = upload(
        &server,
        path,
        &[
            ("file", Some("leaf.p12"), &p12),
            ("password", None, b"wrong"),
            project_part,
        ],
    )
    .await;
    assert!(assert_error(status, &body, 400, "bad_request").contains("wrong password"));
    assert_eq!(body["field"], "password");
    let (status, body) = upload(
        &server,
        path,
        &[("file", Some("leaf.p12"), &p12), project_part],
    )
    .await;
    assert_error(status, &body, 400, "bad_request");
    assert_eq!(body["field"], "password");
    let (status, body) = upload(
        &server,
        path,
        &[
            ("file", Some("junk.bin"), b"\x01\x02garbage\xff"),
            project_part,
        ],
    )
    .await;
    assert!(assert_error(status, &body, 400, "bad_request").contains("not a certificate file"));
    let (status, body) = upload(
        &server,
        path,
        &[
            (
                "file",
                Some("junk.pem"),
                b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
            ),
            project_part,
        ],
    )
    .await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = upload(&server, path, &[project_part]).await;
    assert_eq!(body["field"], "file", "{status} {body}");
    let (status, body) = upload(
        &server,
        path,
        &[("file", Some("a"), b"x"), ("colour", None, b"blue")],
    )
    .await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = server.post(path, BOOTSTRAP, json!({"file": "x"})).await;
    assert_error(status, &body, 415, "unsupported_media_type");
    assert_eq!(total(&server).await, 0);

    // Preview of the file: reported, not written.
    let (status, report) = upload(
        &server,
        "/api/v1/certificates/import/preview",
        &[
            ("file", Some("leaf.p12"), &p12),
            ("password", None, b"pfx-pw"),
            project_part,
        ],
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["results"][0]["status"], "new");
    assert_eq!(
        report["results"][0]["certificate"]["common_name"],
        "file.example.com"
    );
    assert_eq!(report["results"][0]["certificate"]["has_private_key"], true);
    assert_eq!(report["results"][0]["certificate"]["chain_length"], 1);
    assert_eq!(total(&server).await, 0);

    // PKCS #12 with the right password: the certificate, its key and its chain.
    let (status, report) = upload(
        &server,
        path,
        &[
            ("file", Some("leaf.p12"), &p12),
            ("password", None, b"pfx-pw"),
            project_part,
        ],
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["imported"], 1, "{report}");
    let id = report["results"][0]["id"].as_str().unwrap();
    let (_, got) = server
        .get(&format!("/api/v1/certificates/{id}"), BOOTSTRAP)
        .await;
    assert_eq!(got["source"], "imported");
    assert_eq!(got["has_private_key"], true);
    let (_, _, body) = fetch(&server, &format!("/api/v1/certificates/{id}/export")).await;
    assert_eq!(
        count(&String::from_utf8(body).unwrap(), "BEGIN CERTIFICATE"),
        2
    );

    // A 3DES/SHA-1 file as older tools write it, the CA as DER, and a PEM file.
    let (ok, out) = scratch.openssl(&[
        "pkcs12",
        "-export",
        "-in",
        "ca.pem",
        "-inkey",
        "ca.key",
        "-passout",
        "pass:old",
        "-certpbe",
        "PBE-SHA1-3DES",
        "-keypbe",
        "PBE-SHA1-3DES",
        "-macalg",
        "sha1",
        "-out",
        "ca.p12",
    ]);
    assert!(ok, "{out}");
    let (status, report) = upload(
        &server,
        path,
        &[
            (
                "file",
                Some("ca.p12"),
                &std::fs::read(scratch.path("ca.p12")).unwrap(),
            ),
            ("password", None, b"old"),
            project_part,
        ],
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["imported"], 1, "{report}");
    assert_eq!(report["results"][0]["certificate"]["is_ca"], true);
    let (ok, out) =
        scratch.openssl(&["x509", "-in", "ca.pem", "-outform", "DER", "-out", "ca.der"]);
    assert!(ok, "{out}");
    let (status, report) = upload(
        &server,
        path,
        &[
            (
                "file",
                Some("ca.der"),
                &std::fs::read(scratch.path("ca.der")).unwrap(),
            ),
            project_part,
        ],
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["duplicates"], 1, "{report}");
    let (two, _) = self_signed(&scratch, "two");
    let (status, report) = upload(
        &server,
        path,
        &[
            ("file", Some("two.pem"), two.as_bytes()),
            ("format", None, b"pem"),
            project_part,
        ],
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["imported"], 1, "{report}");
    assert_eq!(total(&server).await, 3);
}

#[tokio::test]
async fn preview_reports_what_an_import_would_do_and_writes_nothing() {
    let server = Server::start();
    let scratch = Scratch::new();
    let project = default_project(&server, BOOTSTRAP).await;
    let (one, one_key) = self_signed(&scratch, "one");
    let (two, _) = self_signed(&scratch, "two");
    let preview = |body: Value| server.post("/api/v1/certificates/import/preview", BOOTSTRAP, body);

    let (status, report) =
        preview(json!({"certificate_pem": one, "private_key_pem": one_key})).await;
    assert_eq!(status, 200, "{report}");
    let facts = &report["results"][0]["certificate"];
    assert_eq!(facts["common_name"], "one.example.com");
    assert_eq!(facts["self_signed"], true);
    assert_eq!(facts["has_private_key"], true);
    assert_eq!(facts["status"], "active");
    assert_eq!(facts["fingerprint_sha256"].as_str().unwrap().len(), 64);

    let (status, body) = preview(json!({"certificate_pem": two, "private_key_pem": one_key})).await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = preview(json!({"project_id": project})).await;
    assert_error(status, &body, 400, "bad_request");
    assert_eq!(total(&server).await, 0);

    let (status, _) = server
        .post(
            "/api/v1/certificates/import",
            BOOTSTRAP,
            json!({"project_id": project, "certificate_pem": one}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, report) =
        preview(json!({"project_id": project, "pem_bundle": format!("{one}{two}")})).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["duplicates"], 1);
    assert_eq!(report["imported"], 1);
    assert_eq!(report["results"][1]["status"], "new");
    assert_eq!(total(&server).await, 1);
}

#[tokio::test]
async fn mtls_certificates_generate_download_renew_and_delete() {
    let server = Server::start();
    let scratch = Scratch::new();
    let base = "/api/certificates/mtls";

    // Bad input: each a 400, nothing made.
    for (body, field) in [
        (
            json!({"domain": "a.example.com", "keySize": 1024}),
            "keySize",
        ),
        (
            json!({"domain": "a.example.com", "country": "USA"}),
            "country",
        ),
        (
            json!({"domain": "a.example.com", "validityDays": 0}),
            "validityDays",
        ),
        (json!({"domain": ""}), "domain"),
    ] {
        let (status, error) = server
            .post(&format!("{base}/generate"), BOOTSTRAP, body)
            .await;
        assert_error(status, &error, 400, "bad_request");
        assert_eq!(error["field"], field, "{error}");
    }
    let (status, error) = server
        .post(
            &format!("{base}/generate"),
            BOOTSTRAP,
            json!({"organization": "x"}),
        )
        .await;
    assert_error(status, &error, 400, "bad_request");
    let (_, list) = server.get(base, BOOTSTRAP).await;
    assert_eq!(list, json!([]));

    let (status, made) = server
        .post(
            &format!("{base}/generate"),
            BOOTSTRAP,
            json!({
                "domain": "api.example.com", "organization": "Acme Inc", "country": "US",
                "keySize": 2048, "validityDays": 365, "tags": ["prod"],
            }),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["domain"], "api.example.com");
    assert_eq!(made["organization"], "Acme Inc");
    assert_eq!(made["country"], "US");
    assert_eq!(made["keySize"], 2048);
    assert_eq!(made["expired"], false);
    assert_eq!(made["expiringSoon"], false);
    assert_eq!(made["tags"], json!(["prod"]));
    let id = made["id"].as_str().unwrap().to_owned();
    let ca_id = made["caId"].as_str().unwrap().to_owned();

    let (status, list) = server.get(base, BOOTSTRAP).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], id.as_str());
    assert!(list[0]["expiresAt"].is_string());
    // The same object in the /api/v1 certificate list.
    let (_, v1) = server
        .get(&format!("/api/v1/certificates/{id}"), BOOTSTRAP)
        .await;
    assert_eq!(v1["source"], "mtls");
    assert_eq!(v1["status"], "active");

    let (status, one) = server.get(&format!("{base}/{id}"), BOOTSTRAP).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["domain"], "api.example.com");

    // Another organization sees none of it and can change none of it.
    let (_, org) = server
        .post("/api/v1/organizations", BOOTSTRAP, json!({"name": "other"}))
        .await;
    let (other, _) = server
        .create_key(
            BOOTSTRAP,
            json!({"organization_id": org["id"], "role": "admin"}),
        )
        .await;
    for path in [
        format!("{base}/{id}"),
        format!("{base}/{id}/download?format=key"),
        format!("/api/v1/certificates/{id}/export?include_key=true"),
    ] {
        let (status, body) = server.get(&path, &other).await;
        assert_error(status, &body, 404, "not_found");
    }
    let (status, _) = server
        .post(&format!("{base}/{id}/renew"), &other, json!({}))
        .await;
    assert_eq!(status, 404);
    let (status, _) = server.delete(&format!("{base}/{id}"), &other).await;
    assert_eq!(status, 404);
    let (_, list) = server.get(base, BOOTSTRAP).await;
    assert_eq!(list[0]["id"], id.as_str());
    let (_, events) = server
        .get("/api/v1/audit-events?action=certificate.export", BOOTSTRAP)
        .await;
    assert_eq!(
        events["data"],
        json!([]),
        "a refused export is not recorded as one"
    );

    // Downloads, each read by OpenSSL.
    let (_, _, ca_der) = fetch(&server, &format!("/api/v1/cas/{ca_id}/certificate")).await;
    scratch.write("ca.der", &ca_der);
    assert!(
        scratch
            .openssl(&["x509", "-inform", "DER", "-in", "ca.der", "-out", "ca.pem"])
            .0
    );
    let (status, headers, pem) = fetch(&server, &format!("{base}/{id}/download?format=pem")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/x-pem-file");
    scratch.write("cert.pem", &pem);
    let (ok, out) = scratch.openssl(&[
        "x509",
        "-in",
        "cert.pem",
        "-noout",
        "-subject",
        "-ext",
        "extendedKeyUsage,subjectAltName",
    ]);
    assert!(ok, "{out}");
    assert!(
        out.contains("CN = api.example.com") && out.contains("O = Acme Inc"),
        "{out}"
    );
    assert!(
        out.contains("TLS Web Client Authentication") && out.contains("DNS:api.example.com"),
        "{out}"
    );
    let (ok, out) = scratch.openssl(&[
        "verify",
        "-CAfile",
        "ca.pem",
        "-purpose",
        "sslclient",
        "cert.pem",
    ]);
    assert!(ok && out.contains("OK"), "{out}");
    let (status, _, key) = fetch(&server, &format!("{base}/{id}/download?format=key")).await;
    assert_eq!(status, 200);
    scratch.write("key.pem", &key);
    let (ok, out) = scratch.openssl(&["pkey", "-in", "key.pem", "-noout", "-text"]);
    assert!(ok && out.contains("2048 bit"), "{out}");
    assert_eq!(
        public_key(&scratch, &["pkey", "-in", "key.pem", "-pubout"]),
        public_key(&scratch, &["x509", "-in", "cert.pem", "-noout", "-pubkey"]),
    );
    let (status, headers, der) = fetch(&server, &format!("{base}/{id}/download?format=der")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/pkix-cert");
    scratch.write("cert.der", &der);
    assert!(
        scratch
            .openssl(&["x509", "-inform", "DER", "-in", "cert.der", "-noout"])
            .0
    );
    let (status, headers, p12) = fetch(
        &server,
        &format!("{base}/{id}/download?format=p12&password=s3cr3t"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/x-pkcs12");
    scratch.write("bundle.p12", &p12);
    let (ok, out) = scratch.openssl(&[
        "pkcs12",
        "-info",
        "-in",
        "bundle.p12",
        "-passin",
        "pass:s3cr3t",
        "-nokeys",
    ]);
    assert!(ok && count(&out, "BEGIN CERTIFICATE") == 2, "{out}");
    let (ok, out) = scratch.openssl(&[
        "pkcs12",
        "-in",
        "bundle.p12",
        "-passin",
        "pass:s3cr3t",
        "-nodes",
        "-nocerts",
    ]);
    assert!(ok && out.contains("PRIVATE KEY"), "{out}");
    let body = fetch_error(
        &server,
        &format!("{base}/{id}/download?format=p12"),
        400,
        "bad_request",
    )
    .await;
    assert_eq!(body["field"], "password");
    fetch_error(
        &server,
        &format!("{base}/{id}/download?format=zip"),
        400,
        "bad_request",
    )
    .await;
    fetch_error(&server, &format!("{base}/nope/download"), 404, "not_found").await;

    // Defaults: RSA 4096, 365 days; a short one is expiring soon. The project's CA is reused.
    let (status, default) = server
        .post(
            &format!("{base}/generate"),
            BOOTSTRAP,
            json!({"domain": "client-42"}),
        )
        .await;
    assert_eq!(status, 201, "{default}");
    assert_eq!(default["keySize"], 4096);
    assert_eq!(default["validityDays"], 365);
    assert_eq!(default["caId"], ca_id.as_str());
    let (status, short) = server
        .post(
            &format!("{base}/generate"),
            BOOTSTRAP,
            json!({"domain": "short.example.com", "keySize": 2048, "validityDays": 10}),
        )
        .await;
    assert_eq!(status, 201, "{short}");
    assert_eq!(short["expiringSoon"], true);

    // Renew: a new id with the same settings; the old one is gone and revoked.
    let (status, renewed) = server
        .post(&format!("{base}/{id}/renew"), BOOTSTRAP, json!({}))
        .await;
    assert_eq!(status, 201, "{renewed}");
    let new_id = renewed["id"].as_str().unwrap();
    assert_ne!(new_id, id);
    assert_eq!(renewed["domain"], "api.example.com");
    assert_eq!(renewed["keySize"], 2048);
    assert_eq!(renewed["tags"], json!(["prod"]));
    assert_eq!(renewed["renewedFrom"], id.as_str());
    fetch_error(&server, &format!("{base}/{id}/download"), 404, "not_found").await;
    let (_, list) = server.get(base, BOOTSTRAP).await;
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.contains(&new_id) && !ids.contains(&id.as_str()));
    let (_, old) = server
        .get(&format!("/api/v1/certificates/{id}/status"), BOOTSTRAP)
        .await;
    assert_eq!(old["revoked"], true, "{old}");
    assert_eq!(old["revocation_reason"], "superseded");

    // Delete: 204, then gone; the key is gone with it and the CRL lists it.
    let (status, body) = server.delete(&format!("{base}/{new_id}"), BOOTSTRAP).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = server.delete(&format!("{base}/{new_id}"), BOOTSTRAP).await;
    assert_error(status, &body, 404, "not_found");
    fetch_error(
        &server,
        &format!("/api/v1/certificates/{new_id}/export?include_key=true"),
        409,
        "conflict",
    )
    .await;
    let (_, list) = server.get(base, BOOTSTRAP).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let (_, _, crl) = fetch(&server, &format!("/api/v1/ca/{ca_id}/crl")).await;
    scratch.write("crl.der", &crl);
    let (ok, out) =
        scratch.openssl(&["crl", "-inform", "DER", "-in", "crl.der", "-noout", "-text"]);
    assert!(ok, "{out}");
    let serial = renewed["serialNumber"].as_str().unwrap().replace(':', "");
    assert!(out.contains(&serial), "{out}");
    let (_, events) = server
        .get("/api/v1/audit-events?action=mtls.delete", BOOTSTRAP)
        .await;
    assert_eq!(events["data"][0]["severity"], "high", "{events}");

    // A requester may list but not generate.
    let requester = server.key_with_role("requester").await;
    let (status, _) = server.get(base, &requester).await;
    assert_eq!(status, 200);
    let (status, body) = server
        .post(
            &format!("{base}/generate"),
            &requester,
            json!({"domain": "x.example.com"}),
        )
        .await;
    assert_error(status, &body, 403, "forbidden");
}
