//! Destination names from templates such as `pki/{common_name}`, shared by the
//! rotation targets that write into a hierarchy of names (KV paths, secret
//! names).
//!
//! A template is literal text and `{placeholder}`s. Literals may use ASCII
//! letters, digits, `.`, `_`, `-`, `/` and the extra characters a plugin
//! allows; a placeholder's value is reduced to letters, digits, `.`, `_` and
//! `-` (anything else becomes `_`, a leading `*` becomes `wildcard`). The
//! result has no empty segment, no `.` or `..` segment and no leading or
//! trailing `/`, so a value can never climb out of the template's prefix.

use crate::PluginError;

/// The placeholders every first-party rotator offers.
pub const PLACEHOLDERS: &[&str] = &[
    "common_name",
    "certificate_id",
    "serial",
    "version",
    "organization_id",
    "project_id",
];

/// Longest accepted template or rendered name.
pub const MAX_LEN: usize = 512;

fn literal_ok(c: char, extra: &str) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/') || extra.contains(c)
}

enum Piece<'a> {
    Literal(&'a str),
    Placeholder(&'a str),
}

fn pieces<'a>(field: &str, template: &'a str, extra: &str) -> Result<Vec<Piece<'a>>, PluginError> {
    let bad = |why: String| PluginError::invalid(format!("{field} '{template}': {why}"));
    if template.is_empty() || template.len() > MAX_LEN {
        return Err(bad(format!("must be 1 to {MAX_LEN} characters")));
    }
    let mut out = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        match rest.find(['{', '}']) {
            Some(i) if rest[i..].starts_with('}') => {
                return Err(bad("'}' without '{'".into()));
            }
            Some(i) => {
                if i > 0 {
                    out.push(Piece::Literal(&rest[..i]));
                }
                let after = &rest[i + 1..];
                let end = after
                    .find(['{', '}'])
                    .filter(|&j| after[j..].starts_with('}'))
                    .ok_or_else(|| bad("'{' without a closing '}'".into()))?;
                let name = &after[..end];
                if !PLACEHOLDERS.contains(&name) {
                    return Err(bad(format!(
                        "unknown placeholder '{{{name}}}' (known: {})",
                        PLACEHOLDERS
                            .iter()
                            .map(|p| format!("{{{p}}}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                out.push(Piece::Placeholder(name));
                rest = &after[end + 1..];
            }
            None => {
                out.push(Piece::Literal(rest));
                rest = "";
            }
        }
    }
    for piece in &out {
        if let Piece::Literal(text) = piece
            && let Some(c) = text.chars().find(|&c| !literal_ok(c, extra))
        {
            return Err(bad(format!("character '{c}' is not allowed")));
        }
    }
    Ok(out)
}

fn check_segments(field: &str, name: &str) -> Result<(), PluginError> {
    let bad = |why: &str| PluginError::invalid(format!("{field} '{name}': {why}"));
    if name.is_empty() || name.len() > MAX_LEN {
        return Err(bad("is empty or too long"));
    }
    if name.starts_with('/') || name.ends_with('/') {
        return Err(bad("must not start or end with '/'"));
    }
    if name
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(bad("has an empty, '.' or '..' segment"));
    }
    Ok(())
}

/// Checks a template without values: known placeholders, allowed literals,
/// and a shape that stays inside its prefix once rendered.
pub fn check_template(field: &str, template: &str, extra: &str) -> Result<(), PluginError> {
    let pieces = pieces(field, template, extra)?;
    // Render with a neutral value to check the segments the literals make.
    let sample: String = pieces
        .iter()
        .map(|p| match p {
            Piece::Literal(t) => (*t).to_owned(),
            Piece::Placeholder(_) => "x".to_owned(),
        })
        .collect();
    check_segments(field, &sample)
}

/// Reduces a value to the characters a name may hold.
pub fn sanitize(value: &str) -> String {
    let value = match value.strip_prefix('*') {
        Some(rest) => format!("wildcard{rest}"),
        None => value.to_owned(),
    };
    value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Renders `template` with `values` (placeholder name, raw value).
pub fn render(
    field: &str,
    template: &str,
    extra: &str,
    values: &[(&str, &str)],
) -> Result<String, PluginError> {
    let mut out = String::new();
    for piece in pieces(field, template, extra)? {
        match piece {
            Piece::Literal(t) => out.push_str(t),
            Piece::Placeholder(name) => {
                let value = values
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| sanitize(v))
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| {
                        PluginError::invalid(format!(
                            "{field} '{template}': no value for '{{{name}}}'"
                        ))
                    })?;
                out.push_str(&value);
            }
        }
    }
    check_segments(field, &out)?;
    Ok(out)
}

/// Checks a literal destination name (the host's `destination` override).
pub fn check_literal(field: &str, name: &str, extra: &str) -> Result<(), PluginError> {
    if let Some(c) = name.chars().find(|&c| !literal_ok(c, extra)) {
        return Err(PluginError::invalid(format!(
            "{field} '{name}': character '{c}' is not allowed"
        )));
    }
    check_segments(field, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_refuses() {
        let values = [("common_name", "*.example.com"), ("serial", "01ab")];
        assert_eq!(
            render("path", "pki/{common_name}/{serial}", "", &values).unwrap(),
            "pki/wildcard.example.com/01ab"
        );
        assert!(render("path", "pki/{common_name}", "", &[("common_name", "..")]).is_err());
        assert_eq!(
            render("path", "a/{common_name}", "", &[("common_name", "x/../y")]).unwrap(),
            "a/x_.._y"
        );
        for bad in [
            "",
            "/abs",
            "a/../b",
            "a//b",
            "a/{nope}",
            "a/{common_name",
            "a}",
            "a b",
            "a/",
        ] {
            assert!(check_template("path", bad, "").is_err(), "{bad}");
        }
        assert!(check_template("path", "a+b@c", "+=@").is_ok());
        assert!(check_literal("destination", "team/app", "").is_ok());
        assert!(check_literal("destination", "../x", "").is_err());
    }
}
