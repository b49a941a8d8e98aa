//! A plugin written in Python (componentize-py), built by this test. A
//! failed build fails the test: the Python path must keep working.

use std::path::PathBuf;
use std::process::Command;

use keystead::plugins::template_validator::{KeyAlgorithm, Verdict};
use keystead::plugins::{PluginKind, Registry};

use crate::harness::{self, request};

fn build() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("python-plugins");
    let output = Command::new("bash")
        .arg(root.join("plugins/python/build.sh"))
        .arg(&out)
        .output()
        .expect("run plugins/python/build.sh");
    assert!(
        output.status.success(),
        "building the Python plugin failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    out.join("key-policy.wasm")
}

#[tokio::test(flavor = "multi_thread")]
async fn python_plugin_is_built_and_called() {
    let wasm = build();
    let mut e = harness::entry(
        "key-policy",
        PluginKind::TemplateValidator,
        wasm.to_str().unwrap(),
    );
    e.limits.memory_mb = 256;
    e.config =
        toml::from_str("allowed_algorithms = [\"rsa\", \"ecdsa\"]\nmin_rsa_bits = 3072").unwrap();
    let registry = harness::load(vec![e.clone()]).await;
    let v = registry.template_validator("key-policy").unwrap();
    let stats = &registry.snapshot()[0];
    assert_eq!((stats.version.as_str(), stats.stateless), ("0.1.0", true));

    let mut req = request("org-a", "web", &["a.example.com"]);
    assert_eq!(v.validate(&req, "{}").await.unwrap(), Verdict::Allow);
    req.key.algorithm = KeyAlgorithm::Rsa;
    req.key.size_bits = 2048;
    let Verdict::Deny(violations) = v.validate(&req, "{}").await.unwrap() else {
        panic!("a 2048-bit RSA key is below the 3072 minimum")
    };
    assert_eq!(violations[0].field, "key.size-bits");
    req.key.algorithm = KeyAlgorithm::Ed25519;
    let Verdict::Deny(violations) = v.validate(&req, "{}").await.unwrap() else {
        panic!("ed25519 is not allowed")
    };
    assert_eq!(violations[0].field, "key.algorithm");

    e.config = toml::from_str("min_rsa_bits = 10").unwrap();
    let err = Registry::load(&[e], &harness::options())
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("min_rsa_bits"), "{err}");
}
