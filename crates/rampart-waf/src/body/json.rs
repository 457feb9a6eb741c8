//! JSON bodies, flattened to ARGS the way ModSecurity names them: the prefix
//! `json`, object keys joined with `.`, array elements named `array_N`
//! (so `{"a":{"b":[1]}}` gives `json.a.b.array_0 = 1`). Booleans become
//! `true`/`false`, null an empty value, numbers their text.

use serde_json::Value;

use super::Pair;

/// Parses a JSON body. Nesting deeper than `depth_limit` or more than `limit`
/// values is an error (the body is then flagged, as ModSecurity does).
pub fn parse(input: &[u8], depth_limit: usize, limit: usize) -> Result<Vec<Pair>, String> {
    let value: Value =
        serde_json::from_slice(input).map_err(|e| format!("JSON parse error: {e}"))?;
    let mut out = Vec::new();
    let mut bounds = Bounds {
        depth_limit,
        limit,
        name_bytes_left: input
            .len()
            .saturating_mul(NAME_BYTES_PER_BODY_BYTE)
            .saturating_add(MIN_NAME_BYTES),
    };
    flatten(&value, b"json".to_vec(), 0, &mut bounds, &mut out)?;
    Ok(out)
}

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

fn flatten(
    value: &Value,
    name: Vec<u8>,
    depth: usize,
    bounds: &mut Bounds,
    out: &mut Vec<Pair>,
) -> Result<(), String> {
    if depth > bounds.depth_limit {
        return Err("JSON nesting too deep".into());
    }
    if out.len() >= bounds.limit {
        return Err("too many JSON values".into());
    }
    bounds.name_bytes_left = bounds
        .name_bytes_left
        .checked_sub(name.len())
        .ok_or("JSON names too long")?;
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let mut n = name.clone();
                n.push(b'.');
                n.extend_from_slice(k.as_bytes());
                flatten(v, n, depth + 1, bounds, out)?;
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let mut n = name.clone();
                n.extend_from_slice(format!(".array_{i}").as_bytes());
                flatten(v, n, depth + 1, bounds, out)?;
            }
        }
        Value::String(s) => out.push((name, s.as_bytes().to_vec())),
        Value::Number(n) => out.push((name, n.to_string().into_bytes())),
        Value::Bool(b) => out.push((
            name,
            if *b {
                b"true".to_vec()
            } else {
                b"false".to_vec()
            },
        )),
        Value::Null => out.push((name, Vec::new())),
    }
    Ok(())
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
    fn rejects_invalid_and_too_deep() {
        assert!(parse(b"{", 16, 100).is_err());
        assert!(parse(b"[[[[1]]]]", 2, 100).is_err());
        assert!(parse(b"[1,2,3]", 16, 2).is_err());
    }
}
