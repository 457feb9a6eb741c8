//! A client certificate's subject DN as text (RFC 4514 escaping, in the
//! certificate's RDN order: `CN=a, O=b`).
//!
//! Rendered here rather than by x509-parser: its `as_str` decodes only four
//! string types while its `Display` decodes more and escapes nothing, so a
//! check through one and a rendering through the other disagreed (a T61String
//! CN of `billing, O=Example` read as the two attributes a `subject` rule
//! names). Here every value is decoded once, by its tag, and always escaped.

use std::borrow::Cow;
use std::fmt::Write as _;

use x509_parser::asn1_rs::{Any, Class, Tag};
use x509_parser::x509::X509Name;

/// The subject text: attributes of one RDN joined by ` + `, RDNs by `, `.
pub(super) fn subject_text(name: &X509Name<'_>) -> String {
    let registry = x509_parser::objects::oid_registry();
    let mut out = String::new();
    for (i, rdn) in name.iter_rdn().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        for (j, attr) in rdn.iter().enumerate() {
            if j > 0 {
                out.push_str(" + ");
            }
            match x509_parser::objects::oid2abbrev(attr.attr_type(), registry) {
                Ok(abbrev) => out.push_str(abbrev),
                // x509-parser's form (`OID(2.5.4.97)`), which subject rules
                // written against earlier releases name; RFC 4514 would write
                // the bare dotted form.
                Err(_) => {
                    let _ = write!(out, "{:?}", attr.attr_type());
                }
            }
            out.push('=');
            match decode(attr.attr_value()) {
                Some(value) => push_escaped(&mut out, &value),
                None => push_hex(&mut out, attr.attr_value()),
            }
        }
    }
    out
}

/// A string value's text, by its tag; `None` for what is not a string (or not
/// a valid one of its type).
fn decode<'a>(value: &Any<'a>) -> Option<Cow<'a, str>> {
    // A constructed (BER) string is not DER; its content is nested TLVs.
    if value.class() != Class::Universal || value.header.constructed() {
        return None;
    }
    let data = value.data;
    match value.tag() {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::NumericString
        | Tag::Ia5String
        | Tag::VisibleString => std::str::from_utf8(data).ok().map(Cow::Borrowed),
        // Teletex and the other legacy 8-bit types: UTF-8 where valid (what
        // issuers put there in practice), else Latin-1.
        Tag::T61String
        | Tag::VideotexString
        | Tag::GraphicString
        | Tag::GeneralString
        | Tag::ObjectDescriptor => Some(match std::str::from_utf8(data) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => Cow::Owned(data.iter().map(|&b| char::from(b)).collect()),
        }),
        Tag::BmpString => {
            let (units, rest) = data.as_chunks::<2>();
            if !rest.is_empty() {
                return None;
            }
            char::decode_utf16(units.iter().map(|unit| u16::from_be_bytes(*unit)))
                .collect::<Result<String, _>>()
                .ok()
                .map(Cow::Owned)
        }
        Tag::UniversalString => {
            let (chars, rest) = data.as_chunks::<4>();
            if !rest.is_empty() {
                return None;
            }
            chars
                .iter()
                .map(|c| char::from_u32(u32::from_be_bytes(*c)))
                .collect::<Option<String>>()
                .map(Cow::Owned)
        }
        _ => None,
    }
}

/// Appends `value` escaped per RFC 4514: the DN separators and `=` anywhere,
/// a leading `#` or space, a trailing space, and control characters (as
/// `\XX` per UTF-8 byte, so none reaches a header or a log raw).
fn push_escaped(out: &mut String, value: &str) {
    for (at, c) in value.char_indices() {
        let first = at == 0;
        let last = at + c.len_utf8() == value.len();
        match c {
            ',' | '+' | '=' | '"' | '\\' | '<' | '>' | ';' => {
                out.push('\\');
                out.push(c);
            }
            ' ' if first || last => out.push_str("\\ "),
            '#' if first => out.push_str("\\#"),
            c if c.is_control() => {
                let mut utf8 = [0u8; 4];
                for byte in c.encode_utf8(&mut utf8).bytes() {
                    let _ = write!(out, "\\{byte:02x}");
                }
            }
            c => out.push(c),
        }
    }
}

/// Appends `#` and the hex of the value's DER encoding (RFC 4514 2.4).
fn push_hex(out: &mut String, value: &Any<'_>) {
    out.push('#');
    let header = &value.header;
    match header.raw_tag() {
        Some(tag) => tag.iter().for_each(|b| {
            let _ = write!(out, "{b:02x}");
        }),
        // Parsed values keep their tag bytes; this is the low-tag form.
        None => {
            let class = (value.class() as u8) << 6;
            let constructed = u8::from(value.header.constructed()) << 5;
            let number = u8::try_from(value.tag().0).unwrap_or(0x1f) & 0x1f;
            let _ = write!(out, "{:02x}", class | constructed | number);
        }
    }
    let len = value.data.len();
    if len < 0x80 {
        let _ = write!(out, "{len:02x}");
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        let _ = write!(out, "{:02x}", 0x80 | significant.len());
        for b in significant {
            let _ = write!(out, "{b:02x}");
        }
    }
    for b in value.data {
        let _ = write!(out, "{b:02x}");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use x509_parser::asn1_rs::FromDer;

    use super::*;

    /// How one DER-encoded value renders.
    fn render(der: &[u8]) -> String {
        let (_, any) = Any::from_der(der).unwrap();
        let mut out = String::new();
        match decode(&any) {
            Some(value) => push_escaped(&mut out, &value),
            None => push_hex(&mut out, &any),
        }
        out
    }

    #[test]
    fn every_string_type_is_decoded_and_escaped_alike() {
        // `a,b` as UTF8String, PrintableString, T61String, VisibleString,
        // GeneralString, GraphicString; as BMPString; as UniversalString.
        for tag in [0x0c, 0x13, 0x14, 0x1a, 0x1b, 0x19] {
            assert_eq!(render(&[tag, 3, b'a', b',', b'b']), "a\\,b", "tag {tag:#x}");
        }
        assert_eq!(render(&[0x1e, 6, 0, b'a', 0, b',', 0, b'b']), "a\\,b");
        assert_eq!(render(&[0x1c, 8, 0, 0, 0, b'a', 0, 0, 0, b'=']), "a\\=");
        // Teletex bytes that are not UTF-8 are Latin-1.
        assert_eq!(render(&[0x14, 2, b'x', 0xe9]), "x\u{e9}");
    }

    #[test]
    fn rfc4514_positions_and_controls_are_escaped() {
        assert_eq!(render(&[0x0c, 3, b'#', b'a', b' ']), "\\#a\\ ");
        assert_eq!(render(&[0x0c, 3, b' ', b'#', b';']), "\\ #\\;");
        assert_eq!(render(&[0x0c, 3, b'a', 0, b'\n']), "a\\00\\0a");
        assert_eq!(
            render(&[0x0c, 4, b'<', b'"', b'\\', b'>']),
            "\\<\\\"\\\\\\>"
        );
        assert_eq!(render(&[0x0c, 3, b'a', b' ', b'b']), "a b");
    }

    #[test]
    fn values_that_are_not_strings_are_hex_der() {
        // An odd-length BMPString, an unpaired surrogate, invalid UTF-8 in a
        // UTF8String, an INTEGER.
        assert_eq!(render(&[0x1e, 1, 0x41]), "#1e0141");
        assert_eq!(render(&[0x1e, 2, 0xd8, 0x00]), "#1e02d800");
        assert_eq!(render(&[0x0c, 1, 0xff]), "#0c01ff");
        assert_eq!(render(&[0x02, 1, 0x05]), "#020105");
        let mut long = vec![0x04, 0x81, 200];
        long.extend([0u8; 200]);
        assert!(render(&long).starts_with("#0481c80000"));
    }
}
