//! What the certificate events carry: the certificate as receivers need it to act,
//! never its key.

use serde_json::{Value, json};

use crate::model::SanSet;
use crate::store::CertificateRow;
use crate::webhooks::{Event, EventKind};

/// An event about `row`; `extra` members (an object) are added to its data.
pub(super) fn certificate_event(kind: EventKind, row: &CertificateRow, extra: Value) -> Event {
    let san: SanSet = serde_json::from_str(&row.san).unwrap_or_default();
    let mut data = json!({
        "certificateId": row.id,
        "projectId": row.project_id,
        "commonName": row.common_name,
        "dnsNames": san.dns_names,
        "serialNumber": row.serial_number,
        "notBefore": row.not_before,
        "notAfter": row.not_after,
        "issuer": row.issuer_cn,
        "caId": row.ca_id,
        "templateId": row.template_id,
        "fingerprintSha256": row.fingerprint_sha256,
        "status": row.status,
    });
    if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), extra) {
        data.extend(extra);
    }
    Event::new(kind, &row.organization_id, Some(&row.project_id), data)
}
