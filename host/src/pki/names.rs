//! Subject and SAN conversions to and from the X.509 libraries: rcgen when signing,
//! x509-parser when reading certificates and requests.

use std::net::IpAddr;

use rcgen::{DistinguishedName, DnType, SanType};

use crate::model::{SanSet, Subject};
use crate::{Error, Result};

/// OID of PKCS #9 emailAddress, for subjects that carry one.
const EMAIL_ADDRESS_OID: &[u64] = &[1, 2, 840, 113549, 1, 9, 1];

impl Subject {
    pub fn to_distinguished_name(&self) -> DistinguishedName {
        let mut dn = DistinguishedName::new();
        for (field, value) in self.fields() {
            let ty = match field {
                "common_name" => DnType::CommonName,
                "organization" => DnType::OrganizationName,
                "organizational_unit" => DnType::OrganizationalUnitName,
                "locality" => DnType::LocalityName,
                "state" => DnType::StateOrProvinceName,
                "country" => DnType::CountryName,
                _ => DnType::CustomDnType(EMAIL_ADDRESS_OID.to_vec()),
            };
            dn.push(ty, value);
        }
        dn
    }

    pub fn from_x509_name(name: &x509_parser::x509::X509Name<'_>) -> Self {
        let first = |iter: &mut dyn Iterator<
            Item = &x509_parser::x509::AttributeTypeAndValue<'_>,
        >| { iter.next().and_then(|a| a.as_str().ok()).map(str::to_owned) };
        Self {
            common_name: first(&mut name.iter_common_name()),
            organization: first(&mut name.iter_organization()),
            organizational_unit: first(&mut name.iter_organizational_unit()),
            locality: first(&mut name.iter_locality()),
            state: first(&mut name.iter_state_or_province()),
            country: first(&mut name.iter_country()),
            email_address: first(&mut name.iter_email()),
        }
    }
}

impl SanSet {
    pub fn to_rcgen(&self) -> Result<Vec<SanType>> {
        let ia5 = |s: &str| s.to_owned().try_into().map_err(Error::internal);
        let mut out = Vec::new();
        for name in &self.dns_names {
            out.push(SanType::DnsName(ia5(name)?));
        }
        for ip in &self.ip_addresses {
            out.push(SanType::IpAddress(ip.parse().map_err(Error::internal)?));
        }
        for email in &self.email_addresses {
            out.push(SanType::Rfc822Name(ia5(email)?));
        }
        for uri in &self.uris {
            out.push(SanType::URI(ia5(uri)?));
        }
        Ok(out)
    }

    pub fn from_general_names(names: &[x509_parser::extensions::GeneralName<'_>]) -> Self {
        use x509_parser::extensions::GeneralName;
        let mut set = Self::default();
        for name in names {
            match name {
                GeneralName::DNSName(d) => set.dns_names.push((*d).to_owned()),
                GeneralName::RFC822Name(e) => set.email_addresses.push((*e).to_owned()),
                GeneralName::URI(u) => set.uris.push((*u).to_owned()),
                GeneralName::IPAddress(bytes) => {
                    let ip = match bytes.len() {
                        4 => <[u8; 4]>::try_from(*bytes).ok().map(IpAddr::from),
                        16 => <[u8; 16]>::try_from(*bytes).ok().map(IpAddr::from),
                        _ => None,
                    };
                    if let Some(ip) = ip {
                        set.ip_addresses.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
        set
    }
}
