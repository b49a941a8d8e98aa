//! The typed domain model: the objects Keystead keeps (certificates, authorities,
//! templates, keys, tenants, ...) as plain data with typed fields. No I/O here:
//! the services in `pki`, `auth`, `tenancy`, ... apply the rules, the `store` maps
//! these types to and from its rows, and the `api` maps them to its views.

pub mod api_key;
pub mod audit;
pub mod jwk_object;
pub mod jwt_key;
pub mod key_material;
pub mod rotation;
pub mod tenancy;
pub mod webhook;

pub use api_key::ApiKey;
pub use audit::{AuditEvent, AuditFilter, AuditRecord, Outcome, Severity};
pub use jwk_object::JwkObject;
pub use jwt_key::JwtKey;
pub use key_material::{StoredKey, StoredKeystore};
pub use rotation::{RotationConfig, RotationRun, RotationTarget};
pub use tenancy::{Environment, Organization, Project};
pub use webhook::{DeliveryAttempt, Event, EventKind, Webhook, WebhookDelivery};
