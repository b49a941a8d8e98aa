//! Starts the built `keystead` binary on an ephemeral port with its own data directory.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Client, Method, RequestBuilder, Response};
use serde_json::{Value, json};

pub const BOOTSTRAP: &str = "t0-bootstrap-secret";

pub struct Server {
    child: Option<Child>,
    pub base: String,
    pub data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    logs: Arc<Mutex<String>>,
    config: PathBuf,
    env: Vec<(String, String)>,
    pub client: Client,
}

pub struct Options {
    /// Extra TOML appended to the config file.
    pub config: String,
    pub env: Vec<(String, String)>,
    pub bootstrap: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            config: String::new(),
            env: Vec::new(),
            bootstrap: true,
        }
    }
}

impl Server {
    pub fn start() -> Self {
        Self::start_with(Options::default())
    }

    pub fn start_with(options: Options) -> Self {
        let temp = tempfile::tempdir().expect("temp dir");
        let data_dir = temp.path().join("data");
        let config = temp.path().join("keystead.toml");
        std::fs::write(&config, &options.config).expect("write config");
        let mut env = options.env;
        if options.bootstrap {
            env.push(("KEYSTEAD_BOOTSTRAP_TOKEN".into(), BOOTSTRAP.into()));
        }
        let mut server = Self {
            child: None,
            base: String::new(),
            data_dir,
            _temp: Some(temp),
            logs: Arc::default(),
            config,
            env,
            client: Client::new(),
        };
        server.spawn().expect("server starts");
        server
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keystead"));
        cmd.arg("serve")
            .arg("--config")
            .arg(&self.config)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KEYSTEAD_DATA_DIR", &self.data_dir)
            .env("KEYSTEAD_LISTEN", "127.0.0.1:0")
            .env("KEYSTEAD_LOG_FORMAT", "json")
            // Compiled plugins are shared between test servers: a cold compile per server
            // would only repeat the same work.
            .env(
                "KEYSTEAD_PLUGIN_CACHE_DIR",
                concat!(env!("CARGO_TARGET_TMPDIR"), "/plugin-cache"),
            )
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    }

    /// Starts the process; on failure returns its exit status and everything it printed.
    fn spawn(&mut self) -> Result<(), (ExitStatus, String)> {
        let mut child = self.command().spawn().expect("spawn keystead");
        let stderr = child.stderr.take().expect("stderr");
        let logs = self.logs.clone();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(event) = serde_json::from_str::<Value>(&line)
                    && event["message"] == "listening"
                    && let Some(addr) = event["addr"].as_str()
                {
                    let _ = tx.send(addr.to_owned());
                }
                let mut all = logs.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(addr) = rx.recv_timeout(Duration::from_millis(50)) {
                self.base = format!("http://{addr}");
                self.child = Some(child);
                return Ok(());
            }
            if let Some(status) = child.try_wait().expect("try_wait") {
                std::thread::sleep(Duration::from_millis(100));
                return Err((status, self.logs()));
            }
            assert!(
                Instant::now() < deadline,
                "server did not start:\n{}",
                self.logs()
            );
        }
    }

    /// Everything the server wrote to stderr so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn().expect("server restarts");
    }

    /// SIGKILL: the process gets no chance to finish anything.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().expect("SIGKILL");
        child.wait().expect("wait");
    }

    /// Starts the process again on the same data directory, after `kill` or `stop`.
    pub fn start_again(&mut self) {
        self.spawn().expect("server starts again");
    }

    /// Starts again with extra environment; returns the failure when it does not start.
    pub fn try_restart_with(&mut self, env: &[(&str, &str)]) -> Result<(), (ExitStatus, String)> {
        if self.child.is_some() {
            self.stop();
        }
        self.env
            .extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        self.spawn()
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("keystead.db")
    }

    pub fn request(&self, method: Method, path: &str, key: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .header("X-API-Key", key)
    }

    pub async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        send(self.request(Method::GET, path, key)).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        send(self.request(Method::POST, path, key).json(&body)).await
    }

    pub async fn patch(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        send(self.request(Method::PATCH, path, key).json(&body)).await
    }

    pub async fn put(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        send(self.request(Method::PUT, path, key).json(&body)).await
    }

    pub async fn delete(&self, path: &str, key: &str) -> (u16, Value) {
        send(self.request(Method::DELETE, path, key)).await
    }

    /// Creates an API key with `body` and returns (secret, public key).
    pub async fn create_key(&self, key: &str, body: Value) -> (String, String) {
        let (status, created) = self.post("/keys", key, body).await;
        assert_eq!(status, 200, "{created}");
        (
            created["key"].as_str().unwrap().to_owned(),
            created["publicKey"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn key_with_role(&self, role: &str) -> String {
        self.create_key(BOOTSTRAP, json!({ "alias": role, "role": role }))
            .await
            .0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub async fn send(request: RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("request");
    read(response).await
}

pub async fn read(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

/// Asserts the shared error shape and returns the description.
pub fn assert_error(status: u16, body: &Value, expected_status: u16, code: &str) -> String {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["error"], code, "{body}");
    body["error_description"]
        .as_str()
        .unwrap_or_else(|| panic!("error_description missing: {body}"))
        .to_owned()
}

pub fn file_contains(path: &Path, needle: &[u8]) -> bool {
    std::fs::read(path)
        .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
        .unwrap_or(false)
}
