//! The typed domain model: the objects Keystead keeps (certificates, authorities,
//! templates, keys, tenants, ...) as plain data with typed fields. No I/O here:
//! the services in `pki`, `auth`, `tenancy`, ... apply the rules, the `store` maps
//! these types to and from its rows, and the `api` maps them to its views.

/// An enum kept and shown under fixed names: `as_str`, `parse` and `ALL` come from one
/// list, so that the two directions cannot drift apart.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident = $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$variant_meta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire,)+
                }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($wire => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
use wire_enum;

pub mod api_key;
pub mod audit;
pub mod authority;
pub mod certificate;
pub mod crl;
pub mod jwk_object;
pub mod jwt_key;
pub mod key;
pub mod key_material;
pub mod names;
pub mod renewal;
pub mod rotation;
pub mod template;
pub mod tenancy;
pub mod webhook;

pub use api_key::ApiKey;
pub use audit::{AuditEvent, AuditFilter, AuditRecord, Outcome, Severity};
pub use authority::{CaKind, CaStatus, CertificateAuthority};
pub use certificate::{
    Certificate, CertificateFilter, CertificateSource, CsrSourceMode, Issued, NewCertificate,
    Revocation, RevocationReason, Status,
};
pub use crl::{Crl, CrlKind, RevokedSerial};
pub use jwk_object::JwkObject;
pub use jwt_key::JwtKey;
pub use key::{KeyAlgorithm, KeyStorageMode, KeyType, RSA_SIZES};
pub use key_material::{StoredKey, StoredKeystore};
pub use names::{SUBJECT_FIELDS, SanSet, Subject};
pub use renewal::{RenewalRequest, RenewalStatus};
pub use rotation::{RotationConfig, RotationRun, RotationTarget};
pub use template::{ApprovalMode, Template, TemplateRules, ValidatorRef};
pub use tenancy::{Environment, Organization, Project};
pub use webhook::{DeliveryAttempt, Event, EventKind, Webhook, WebhookDelivery};

/// A new record id: a UUID version 7, whose leading bits are the time. New records
/// land at the end of each id index rather than on a random page, which keeps the
/// pages a commit writes few however large a table grows.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
