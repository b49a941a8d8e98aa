//! `keystead plugin check` and start-up validation of worlds.

use std::process::Command;

use keystead::plugins::test_components::TEST_NOT_A_PLUGIN;
use keystead::plugins::{LoadError, PluginKind, Registry};

use crate::harness;

/// A first-party component written to a file, as an operator would have it.
fn builtin_file(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let bytes = keystead::plugins::BUILTIN
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap()
        .1;
    let path = dir.join(format!("{name}.wasm"));
    std::fs::write(&path, bytes).unwrap();
    path
}

#[tokio::test]
async fn a_component_of_the_wrong_world_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let file = builtin_file(dir.path(), "copy-paste");
    let entry = harness::entry(
        "misdeclared",
        PluginKind::TemplateValidator,
        file.to_str().unwrap(),
    );
    let err = Registry::load(&[entry], &harness::options())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, LoadError::WrongWorld { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("plugin misdeclared: does not implement the template-validator world"),
        "{err}"
    );
}

#[test]
fn plugin_check_reports_the_world_and_rejects_others() {
    let bin = env!("CARGO_BIN_EXE_keystead");
    let dir = tempfile::tempdir().unwrap();
    let file = builtin_file(dir.path(), "copy-paste");

    let out = Command::new(bin)
        .args(["plugin", "check"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("world: keystead:plugin/jwk-source@0.1.0"),
        "{stdout}"
    );
    assert!(stdout.contains("wasi:cli/environment"), "{stdout}");

    let out = Command::new(bin)
        .args(["plugin", "check", TEST_NOT_A_PLUGIN])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stderr}");
    assert!(!out.status.success());
    assert!(stderr.contains("not a Keystead plugin"), "{stderr}");

    // The config declares the file as a template validator: wrong world.
    let config = dir.path().join("keystead.toml");
    std::fs::write(
        &config,
        format!(
            "[[plugins]]\nname = \"jwks\"\nkind = \"template-validator\"\npath = {:?}\n",
            file.display().to_string()
        ),
    )
    .unwrap();
    let out = Command::new(bin)
        .args(["plugin", "check"])
        .arg(&file)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("declares kind template-validator but the component implements jwk-source"),
        "{stderr}"
    );

    let out = Command::new(bin)
        .args(["plugin", "list", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.starts_with("jwks\ttemplate-validator\t"),
        "{stdout}"
    );
}
