//! XML bodies for `XML:/*` (the text content of the document) and
//! `XML://@*` (every attribute value). DTDs are refused: no entity expansion.

use roxmltree::{Document, ParsingOptions};

/// What the XML processor extracts.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct XmlValues {
    /// Concatenated text of the whole document (`XML:/*`).
    pub text: Vec<u8>,
    /// Attribute values (`XML://@*`), as (name, value).
    pub attributes: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Parses an XML body.
pub fn parse(input: &[u8]) -> Result<XmlValues, String> {
    let text = std::str::from_utf8(input).map_err(|_| "XML is not UTF-8".to_string())?;
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: 100_000,
        entity_resolver: None,
    };
    let doc =
        Document::parse_with_options(text, options).map_err(|e| format!("XML parse error: {e}"))?;
    let mut out = XmlValues::default();
    for node in doc.descendants() {
        if node.is_text()
            && let Some(t) = node.text()
        {
            out.text.extend_from_slice(t.as_bytes());
        }
        if node.is_element() {
            for attr in node.attributes() {
                out.attributes.push((
                    attr.name().as_bytes().to_vec(),
                    attr.value().as_bytes().to_vec(),
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn extracts_text_and_attributes() {
        let v = parse(br#"<a x="1"><b y="' or 1=1">hi</b> there</a>"#).unwrap();
        assert_eq!(v.text, b"hi there");
        assert_eq!(v.attributes.len(), 2);
        assert_eq!(v.attributes[1].1, b"' or 1=1");
    }

    #[test]
    fn refuses_dtd_and_garbage() {
        assert!(parse(b"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>").is_err());
        assert!(parse(b"<a>").is_err());
    }
}
