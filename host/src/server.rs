//! Start-up and shutdown: open the database, check the master key, bootstrap the
//! first key, serve until SIGTERM or SIGINT, and finish in-flight requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;

use crate::api::{self, AppState};
use crate::audit::AuditLog;
use crate::auth::rate_limit::RateLimits;
use crate::auth::tokens::TokenSigner;
use crate::auth::{ApiKeys, Authorizer};
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::jwk_objects::JwkObjects;
use crate::jwt_keys::JwtKeys;
use crate::key_material::KeyMaterial;
use crate::pki::Pki;
use crate::plugins::Registry;
use crate::rotation::Rotation;
use crate::store::Store;
use crate::telemetry::HttpMetrics;
use crate::tenancy::{ServiceContext, Tenancy};
use crate::webhooks::{Webhooks, dispatcher};

/// Builds every service over an opened store. Fails on a wrong master key.
pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    let key_path = config.master_key_path();
    let (master, created) = MasterKey::load_or_create(&key_path)?;
    let master = Arc::new(master);
    if created {
        tracing::info!(path = %key_path.display(), "generated a new master key (mode 0600); back it up");
    }
    let store = Store::open(&config.database_url()).await?;
    let tokens = TokenSigner::load_or_create(
        &store,
        &master,
        Duration::from_secs(config.auth.token_ttl_secs),
    )
    .await?;
    let audit = AuditLog::new(store.clone());
    let tenancy = Tenancy::new(store.clone());
    let plugins = Arc::new(
        Registry::from_config(&config)
            .await
            .context("cannot load the configured plugins")?,
    );
    tracing::info!(count = plugins.snapshot().len(), "plugins loaded");
    let pki = Arc::new(Pki::new(
        store.clone(),
        master.clone(),
        audit.clone(),
        config.public_base_url(),
        plugins.clone(),
    ));
    let rotation = Rotation::new(
        store.clone(),
        master.clone(),
        audit.clone(),
        pki.clone(),
        plugins.clone(),
        config.rotation.clone(),
    );
    let api_keys = ApiKeys::new(store.clone(), audit.clone(), tokens, &master);
    let context = ServiceContext {
        store: store.clone(),
        audit: audit.clone(),
        tenancy: tenancy.clone(),
    };
    let jwt_keys = JwtKeys::new(
        context.clone(),
        master.clone(),
        Duration::from_secs(config.jwks.rollover_secs),
    );
    let key_material = Arc::new(KeyMaterial::new(
        context.clone(),
        master.clone(),
        plugins.clone(),
    ));
    let webhooks = Webhooks::new(
        context.clone(),
        master,
        plugins.clone(),
        config.allow_loopback,
    );
    let jwk_objects = JwkObjects::new(context, key_material.clone(), plugins.clone());
    jwt_keys.load_jwks().await?;

    let default_org = tenancy.ensure_default().await?;
    match &config.bootstrap_token {
        Some(token) => {
            if let Some(public_key) = api_keys.bootstrap(&default_org, token.expose()).await? {
                tracing::info!(
                    public_key,
                    "created the bootstrap admin key from KEYSTEAD_BOOTSTRAP_TOKEN"
                );
            }
        }
        None => {
            let secret = ApiKeys::generate_secret();
            if api_keys.bootstrap(&default_org, &secret).await?.is_some() {
                // Printed once, to the operator's terminal only; never logged.
                eprintln!("keystead: created an admin API key (shown only this once): {secret}");
            }
        }
    }
    if config.allow_loopback {
        tracing::warn!("allow_loopback is on: outgoing calls may reach loopback addresses");
    }

    Ok(AppState {
        rate_limits: Arc::new(RateLimits::new(&config.rate_limit)),
        metrics: Arc::new(HttpMetrics::default()),
        authz: Authorizer::new(audit.clone()),
        config: Arc::new(config),
        store,
        audit,
        api_keys: Arc::new(api_keys),
        jwt_keys: Arc::new(jwt_keys),
        key_material,
        jwk_objects: Arc::new(jwk_objects),
        tenancy,
        pki,
        plugins,
        rotation,
        webhooks: Arc::new(webhooks),
    })
}

/// How long shutdown waits for webhook deliveries in flight.
const DISPATCHER_GRACE: Duration = Duration::from_secs(10);

pub async fn run(mut config: Config) -> anyhow::Result<()> {
    let listen = config.listen;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    // Links handed out (CRL, OCSP, CA issuers) need the real port when it was chosen by the OS.
    if config.public_base_url.is_none() {
        config.public_base_url = Some(format!("http://{local}"));
    }
    let state = build_state(config).await?;
    tracing::info!(addr = %local, "listening");

    let jobs = crate::jobs::spawn(
        &state.config,
        state.pki.clone(),
        state.rotation.clone(),
        state.store.clone(),
        state.rate_limits.clone(),
    );
    // The webhook dispatcher, woken by each commit that queues deliveries.
    let (stop_dispatcher, stop) = tokio::sync::watch::channel(false);
    let delivery = state.config.webhooks.deliver.then(|| {
        let settings = dispatcher::Settings::from(&state.config.webhooks);
        tokio::spawn(Arc::new(state.webhooks.dispatcher(settings)).run(stop))
    });
    let store = state.store.clone();
    let app = api::router(state);
    // Answers are written whole; Nagle's algorithm would only hold them back.
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%err, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("server error")?;
    // Deliveries in flight finish and are recorded; the rest are handed back.
    let _ = stop_dispatcher.send(true);
    if let Some(delivery) = delivery
        && tokio::time::timeout(DISPATCHER_GRACE, delivery)
            .await
            .is_err()
    {
        tracing::warn!("webhook deliveries still in flight at shutdown; their leases will run out");
    }
    drop(jobs);
    store.pool().close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down; finishing in-flight requests");
}
