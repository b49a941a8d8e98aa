//! The typed domain model: the objects Keystead keeps (certificates, authorities,
//! templates, keys, tenants, ...) as plain data with typed fields. No I/O here:
//! the services in `pki`, `auth`, `tenancy`, ... apply the rules, the `store` maps
//! these types to and from its rows, and the `api` maps them to its views.

/// A new record id: a UUID version 7, whose leading bits are the time. New records
/// land at the end of each id index rather than on a random page, which keeps the
/// pages a commit writes few however large a table grows.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
