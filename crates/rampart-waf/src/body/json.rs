//! JSON bodies, flattened to ARGS the way ModSecurity names them: the prefix
//! `json`, object keys joined with `.`, array elements named `array_N`
//! (so `{"a":{"b":[1]}}` gives `json.a.b.array_0 = 1`). Booleans become
//! `true`/`false`, null an empty value, numbers their text.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::Pair;

/// Parses a JSON body. Nesting deeper than `depth_limit` or more than `limit`
/// values is an error (the body is then flagged, as ModSecurity does).
///
/// Read as a stream of members, in document order, not through a
/// `serde_json::Value`: a repeated key (`{"q":"<payload>","q":"ok"}`) gives
/// both values as ARGS. A map would keep only the last, while parsers that
/// keep the first hand the payload to the application uninspected.
///
/// An empty body is no arguments, not an error: a request sent with a JSON
/// Content-Type and no body (a DELETE, an action endpoint) is common and
/// carries nothing to inspect, and ModSecurity does not fail it either. A
/// body of whitespace only is still an error.
pub fn parse(input: &[u8], depth_limit: usize, limit: usize) -> Result<Vec<Pair>, String> {
    if input.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let mut bounds = Bounds {
        depth_limit,
        limit,
        name_bytes_left: input
            .len()
            .saturating_mul(NAME_BYTES_PER_BODY_BYTE)
            .saturating_add(MIN_NAME_BYTES),
    };
    let mut deserializer = serde_json::Deserializer::from_slice(input);
    let seed = Flatten {
        name: b"json".to_vec(),
        depth: 0,
        bounds: &mut bounds,
        out: &mut out,
    };
    seed.deserialize(&mut deserializer)
        .and_then(|()| deserializer.end())
        .map_err(|e| {
            // Our own limits keep their plain message (the caller shows it
            // as REQBODY_ERROR_MSG; serde adds a position to it).
            let text = e.to_string();
            match LIMITS.iter().find(|limit| text.starts_with(**limit)) {
                Some(limit) => (*limit).to_string(),
                None => format!("JSON parse error: {text}"),
            }
        })?;
    Ok(out)
}

const TOO_DEEP: &str = "JSON nesting too deep";
const TOO_MANY: &str = "too many JSON values";
const NAMES_TOO_LONG: &str = "JSON names too long";
/// The messages of our own limits.
const LIMITS: [&str; 3] = [TOO_DEEP, TOO_MANY, NAMES_TOO_LONG];

/// Flattened names repeat their parents' (every element of an array carries
/// the array's whole name): bounded in total, so a long key over many
/// elements (`{"<100 KB>":[1,1,…]}`) cannot turn a small body into hundreds
/// of megabytes of names. Real bodies stay far below (a leaf's name is its
/// path, a few times its text at most).
const NAME_BYTES_PER_BODY_BYTE: usize = 16;
/// ... with room for small bodies with deep paths.
const MIN_NAME_BYTES: usize = 64 * 1024;

struct Bounds {
    depth_limit: usize,
    limit: usize,
    name_bytes_left: usize,
}

/// One value at `name`: its leaves become pairs in `out`.
struct Flatten<'b> {
    name: Vec<u8>,
    depth: usize,
    bounds: &'b mut Bounds,
    out: &'b mut Vec<Pair>,
}

impl Flatten<'_> {
    fn leaf<E: serde::de::Error>(self, value: Vec<u8>) -> Result<(), E> {
        if self.out.len() >= self.bounds.limit {
            return Err(E::custom(TOO_MANY));
        }
        self.bounds.name_bytes_left = self
            .bounds
            .name_bytes_left
            .checked_sub(self.name.len())
            .ok_or_else(|| E::custom(NAMES_TOO_LONG))?;
        self.out.push((self.name, value));
        Ok(())
    }

    /// The seed of a member or element of this container.
    fn child<E: serde::de::Error>(&mut self, suffix: &[u8]) -> Result<Flatten<'_>, E> {
        if self.depth >= self.bounds.depth_limit {
            return Err(E::custom(TOO_DEEP));
        }
        let mut name = Vec::with_capacity(self.name.len() + 1 + suffix.len());
        name.extend_from_slice(&self.name);
        name.push(b'.');
        name.extend_from_slice(suffix);
        Ok(Flatten {
            name,
            depth: self.depth + 1,
            bounds: self.bounds,
            out: self.out,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Flatten<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Flatten<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        self.leaf(if v {
            b"true".to_vec()
        } else {
            b"false".to_vec()
        })
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        self.leaf(v.to_string().into_bytes())
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        self.leaf(v.to_string().into_bytes())
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        // As serde_json writes numbers (`1e300`, not three hundred digits).
        let text = serde_json::Number::from_f64(v).map_or_else(String::new, |n| n.to_string());
        self.leaf(text.into_bytes())
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        self.leaf(v.as_bytes().to_vec())
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.leaf(Vec::new())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        loop {
            let suffix = format!("array_{i}");
            let child = self.child::<A::Error>(suffix.as_bytes())?;
            if seq.next_element_seed(child)?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let child = self.child::<A::Error>(key.as_bytes())?;
            map.next_value_seed(child)?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded_in_total() {
        // A 100 KB key over 999 array elements: ~100 MB of names unbounded.
        let key = "a".repeat(100_000);
        let body = format!("{{\"{key}\":[{}1]}}", "1,".repeat(998));
        let error = parse(body.as_bytes(), 16, 10_000).unwrap_err();
        assert_eq!(error, "JSON names too long");
        // An ordinary list of records is far below the bound.
        let records = format!(
            "{{\"items\":[{}{{\"id\":1}}]}}",
            "{\"id\":1,\"name\":\"x\"},".repeat(2000)
        );
        assert_eq!(parse(records.as_bytes(), 16, 100_000).unwrap().len(), 4001);
    }

    #[test]
    fn flattens_like_modsecurity() {
        let pairs = parse(br#"{"a":{"b":"x'"},"l":[1,true,null]}"#, 16, 100).unwrap();
        let names: Vec<String> = pairs
            .iter()
            .map(|(n, _)| String::from_utf8(n.clone()).unwrap())
            .collect();
        assert_eq!(
            names,
            vec![
                "json.a.b",
                "json.l.array_0",
                "json.l.array_1",
                "json.l.array_2"
            ]
        );
        assert_eq!(pairs[0].1, b"x'");
        assert_eq!(pairs[2].1, b"true");
        assert_eq!(pairs[3].1, b"");
    }

    #[test]
    fn repeated_keys_give_every_value_in_document_order() {
        // A map keeps the last value; parsers that keep the first would hand
        // the application a payload the rules never saw.
        let pairs = parse(br#"{"q":"' or 1=1--","q":"ok","a":{"b":1.5e300}}"#, 16, 100).unwrap();
        let text: Vec<(String, String)> = pairs
            .iter()
            .map(|(n, v)| {
                (
                    String::from_utf8(n.clone()).unwrap(),
                    String::from_utf8(v.clone()).unwrap(),
                )
            })
            .collect();
        assert_eq!(
            text,
            [
                ("json.q".to_string(), "' or 1=1--".to_string()),
                ("json.q".to_string(), "ok".to_string()),
                ("json.a.b".to_string(), "1.5e+300".to_string()),
            ]
        );
        // Escaped keys are decoded; trailing data is an error.
        assert_eq!(parse(br#"{"\u0071":1}"#, 16, 100).unwrap()[0].0, b"json.q");
        assert!(parse(b"{} x", 16, 100).is_err());
    }

    #[test]
    fn an_empty_body_is_no_arguments_and_no_error() {
        assert_eq!(parse(b"", 16, 100), Ok(Vec::new()));
        assert!(parse(b" \r\n", 16, 100).is_err());
    }

    #[test]
    fn rejects_invalid_and_too_deep() {
        assert!(parse(b"{", 16, 100).is_err());
        assert!(parse(b"[[[[1]]]]", 2, 100).is_err());
        assert!(parse(b"[1,2,3]", 16, 2).is_err());
    }
}
