//! What the certificate events carry: the certificate as receivers need it to act,
//! never its key.

use serde_json::{Value, json};

use crate::model::Certificate;
use crate::timestamp;
use crate::webhooks::{Event, EventKind};

/// An event about `certificate`; `extra` members (an object) are added to its data.
pub(super) fn certificate_event(kind: EventKind, certificate: &Certificate, extra: Value) -> Event {
    let mut data = json!({
        "certificateId": certificate.id,
        "projectId": certificate.project_id,
        "commonName": certificate.common_name,
        "dnsNames": certificate.san.dns_names,
        "serialNumber": certificate.serial_number(),
        "notBefore": certificate.not_before().map(timestamp::format),
        "notAfter": certificate.not_after().map(timestamp::format),
        "issuer": certificate.issuer_cn(),
        "caId": certificate.ca_id,
        "templateId": certificate.template_id,
        "fingerprintSha256": certificate.fingerprint_sha256(),
        "status": certificate.status.as_str(),
    });
    if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), extra) {
        data.extend(extra);
    }
    Event::new(
        kind,
        &certificate.organization_id,
        Some(&certificate.project_id),
        data,
    )
}
