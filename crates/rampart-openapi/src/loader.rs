//! Reads a spec and every sibling file its `$ref`s name, at load time.
//!
//! Files are parsed as JSON when they start with `{`, as YAML otherwise. References are
//! resolved locally only: remote (`http:`, `https:`, any scheme) references are refused,
//! and file references must stay inside the main spec's directory, so a spec cannot make
//! the gateway read arbitrary files or fetch URLs.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::anchors::{AnchorError, Anchors};
use crate::error::{LoadError, SpecLocation};

/// Most files one spec may pull in.
pub const MAX_FILES: usize = 64;
/// Largest spec file read.
pub const MAX_FILE_BYTES: usize = 16 * 1024 * 1024;

/// Index of a document in a [`DocSet`].
pub type DocId = usize;

/// One parsed file.
#[derive(Debug)]
pub struct Doc {
    /// Canonical path.
    pub path: PathBuf,
    /// The text (kept to find line numbers for errors).
    pub text: String,
    /// The parsed document.
    pub value: Value,
    /// Its `$id`s and `$anchor`s.
    pub anchors: Anchors,
}

/// The main spec (document 0) and every file it references.
#[derive(Debug)]
pub struct DocSet {
    /// The documents; 0 is the main spec.
    pub docs: Vec<Doc>,
    root_dir: PathBuf,
}

impl DocSet {
    /// Loads `main` and, transitively, every file its `$ref`s name.
    pub fn load(main: &Path) -> Result<Self, LoadError> {
        let path = canonical(main)?;
        let root_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut set = DocSet {
            docs: Vec::new(),
            root_dir,
        };
        set.docs.push(read_doc(path)?);
        let mut next = 0;
        while next < set.docs.len() {
            let mut refs = Vec::new();
            if let Some(doc) = set.docs.get(next) {
                collect_refs(&doc.value, &mut String::new(), &mut refs);
            }
            for (pointer, reference) in refs {
                let (file, _) = split_ref(&reference);
                let is_id = set.docs.get(next).is_some_and(|d| d.anchors.has_id(file));
                if file.is_empty() || is_id {
                    continue;
                }
                let target = set.file_path(next, file, &pointer, &reference)?;
                if set.docs.iter().all(|d| d.path != target) {
                    if set.docs.len() >= MAX_FILES {
                        return Err(LoadError::TooManyFiles { limit: MAX_FILES });
                    }
                    let doc = read_doc(target)?;
                    set.docs.push(doc);
                }
            }
            next += 1;
        }
        Ok(set)
    }

    /// Builds a location for an error: the file, the line when it can be found, and
    /// the pointer.
    pub fn at(&self, doc: DocId, pointer: &str) -> SpecLocation {
        let (file, line) = match self.docs.get(doc) {
            Some(d) => (d.path.clone(), line_of(&d.text, pointer)),
            None => (PathBuf::new(), None),
        };
        SpecLocation {
            file,
            line,
            pointer: pointer.to_string(),
        }
    }

    /// The main document.
    pub fn main(&self) -> &Value {
        self.docs.first().map(|d| &d.value).unwrap_or(&Value::Null)
    }

    /// Resolves `reference` found in document `from` at `pointer` to the target document
    /// and the JSON pointer inside it.
    pub fn resolve(
        &self,
        from: DocId,
        pointer: &str,
        reference: &str,
    ) -> Result<(DocId, String, &Value), LoadError> {
        let (file, fragment) = split_ref(reference);
        if let Some(d) = self.docs.get(from) {
            let local = d
                .anchors
                .target(file, fragment, decode_fragment)
                .map_err(|e| {
                    let why = match e {
                        AnchorError::Missing => "no schema declares this $id/$anchor",
                        AnchorError::Ambiguous => "several schemas declare this $id/$anchor",
                    };
                    self.ref_error(from, pointer, reference, why)
                })?;
            if let Some(target) = local {
                let value = d.value.pointer(&target).ok_or_else(|| {
                    self.ref_error(from, pointer, reference, "target does not exist")
                })?;
                return Ok((from, target, value));
            }
        }
        let doc = if file.is_empty() {
            from
        } else {
            let target = self.file_path(from, file, pointer, reference)?;
            self.docs
                .iter()
                .position(|d| d.path == target)
                .ok_or_else(|| self.ref_error(from, pointer, reference, "file not loaded"))?
        };
        let target_pointer = decode_fragment(fragment)
            .ok_or_else(|| self.ref_error(from, pointer, reference, "malformed fragment"))?;
        let value = self
            .docs
            .get(doc)
            .and_then(|d| d.value.pointer(&target_pointer))
            .ok_or_else(|| self.ref_error(from, pointer, reference, "target does not exist"))?;
        Ok((doc, target_pointer, value))
    }

    /// Follows `$ref` chains on a non-schema object (parameter, request body, response,
    /// path item) until a concrete object; returns its document and pointer.
    pub fn deref<'s>(
        &'s self,
        mut doc: DocId,
        mut pointer: String,
        mut value: &'s Value,
    ) -> Result<(DocId, String, &'s Value), LoadError> {
        for _ in 0..32 {
            let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
                return Ok((doc, pointer, value));
            };
            let (d, p, v) = self.resolve(doc, &pointer, reference)?;
            (doc, pointer, value) = (d, p, v);
        }
        Err(LoadError::Ref {
            at: self.at(doc, &pointer),
            reference: String::new(),
            why: "reference chain too long or circular",
        })
    }

    fn ref_error(
        &self,
        doc: DocId,
        pointer: &str,
        reference: &str,
        why: &'static str,
    ) -> LoadError {
        LoadError::Ref {
            at: self.at(doc, pointer),
            reference: reference.to_string(),
            why,
        }
    }

    fn file_path(
        &self,
        from: DocId,
        file: &str,
        pointer: &str,
        reference: &str,
    ) -> Result<PathBuf, LoadError> {
        if file.contains("://") || file.starts_with("//") || has_scheme(file) {
            return Err(self.ref_error(
                from,
                pointer,
                reference,
                "remote references are not fetched",
            ));
        }
        let base = self
            .docs
            .get(from)
            .and_then(|d| d.path.parent())
            .unwrap_or(&self.root_dir);
        let joined = base.join(percent_decode(file));
        let path = std::fs::canonicalize(&joined)
            .map_err(|_| self.ref_error(from, pointer, reference, "file not found"))?;
        if !path.starts_with(&self.root_dir) {
            return Err(self.ref_error(
                from,
                pointer,
                reference,
                "file outside the spec directory",
            ));
        }
        Ok(path)
    }
}

fn has_scheme(file: &str) -> bool {
    // `urn:x`, `file:x`: a scheme is letters followed by ':' before any '/'.
    match file.split_once(':') {
        Some((scheme, _)) => {
            !scheme.is_empty()
                && !scheme.contains('/')
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        }
        None => false,
    }
}

fn canonical(path: &Path) -> Result<PathBuf, LoadError> {
    std::fs::canonicalize(path).map_err(|source| LoadError::Read {
        file: path.display().to_string(),
        source,
    })
}

fn read_doc(path: PathBuf) -> Result<Doc, LoadError> {
    let file = path.display().to_string();
    let meta = std::fs::metadata(&path).map_err(|source| LoadError::Read {
        file: file.clone(),
        source,
    })?;
    if meta.len() > MAX_FILE_BYTES as u64 {
        return Err(LoadError::TooLarge {
            file,
            limit: MAX_FILE_BYTES,
        });
    }
    let text = std::fs::read_to_string(&path).map_err(|source| LoadError::Read {
        file: file.clone(),
        source,
    })?;
    let value = parse_text(&text).map_err(|(line, message)| LoadError::Parse {
        at: SpecLocation {
            file: path.clone(),
            line,
            pointer: String::new(),
        },
        message,
    })?;
    let anchors = Anchors::index(&value);
    Ok(Doc {
        path,
        text,
        value,
        anchors,
    })
}

/// Parses JSON or YAML text; on error, the line (when known) and the message.
pub fn parse_text(text: &str) -> Result<Value, (Option<u64>, String)> {
    if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| (Some(e.line() as u64), e.to_string()))
    } else {
        serde_saphyr::from_str::<Value>(text)
            .map_err(|e| (e.location().map(|l| l.line()), e.to_string()))
    }
}

/// Splits `file#fragment`.
fn split_ref(reference: &str) -> (&str, &str) {
    match reference.split_once('#') {
        Some((file, fragment)) => (file, fragment),
        None => (reference, ""),
    }
}

/// A URI fragment (percent-encoded JSON pointer) to a JSON pointer.
fn decode_fragment(fragment: &str) -> Option<String> {
    let decoded = percent_decode(fragment);
    if decoded.is_empty() || decoded.starts_with('/') {
        Some(decoded)
    } else {
        None
    }
}

/// Percent-decodes `%XX` sequences (spec-authored text, so lossy is fine).
pub fn percent_decode(text: &str) -> String {
    String::from_utf8_lossy(&rampart_core::percent::decode_lenient(text)).into_owned()
}

/// Escapes one JSON pointer segment.
pub fn escape_segment(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn collect_refs(value: &Value, pointer: &mut String, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push((pointer.clone(), r.clone()));
            }
            for (key, child) in map {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&escape_segment(key));
                collect_refs(child, pointer, out);
                pointer.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&i.to_string());
                collect_refs(child, pointer, out);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

/// Finds the line of the member a JSON pointer names, by searching each key in turn
/// after the previous one (works for the usual block YAML and pretty JSON; a best
/// effort, `None` when a key is not found).
pub fn line_of(text: &str, pointer: &str) -> Option<u64> {
    if pointer.is_empty() {
        return None;
    }
    let mut pos = 0usize;
    for raw in pointer.split('/').skip(1) {
        let key = raw.replace("~1", "/").replace("~0", "~");
        if key.parse::<usize>().is_ok() {
            continue; // array index: stay where we are
        }
        pos = find_key(text, pos, &key)?;
    }
    let prefix = text.get(..pos)?;
    Some(prefix.bytes().filter(|&b| b == b'\n').count() as u64 + 1)
}

fn find_key(text: &str, from: usize, key: &str) -> Option<usize> {
    let mut start = from;
    loop {
        let rest = text.get(start..)?;
        let found = start + rest.find(key)?;
        let before = text.get(..found)?.chars().next_back();
        let after_key = text.get(found + key.len()..)?;
        let after = after_key
            .trim_start_matches(['"', '\''])
            .trim_start_matches(' ');
        let boundary = matches!(
            before,
            None | Some(' ' | '\n' | '\t' | '"' | '\'' | '{' | ',' | '-')
        );
        if boundary && after.starts_with(':') {
            return Some(found);
        }
        start = found + key.len().max(1);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn line_of_finds_nested_yaml_keys() {
        let text = "openapi: 3.1.0\npaths:\n  /users/{id}:\n    get:\n      responses: {}\n";
        assert_eq!(line_of(text, "/paths/~1users~1{id}/get"), Some(4));
        assert_eq!(line_of(text, "/paths/~1nope"), None);
    }

    #[test]
    fn yaml_integer_keys_become_strings() {
        let v = parse_text("responses:\n  200:\n    description: ok\n").unwrap();
        assert!(v["responses"]["200"].is_object());
    }

    #[test]
    fn yaml_syntax_errors_carry_a_line() {
        let (line, _) = parse_text("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(line.is_some());
    }

    #[test]
    fn schemes_are_detected() {
        assert!(has_scheme("urn:x:y"));
        assert!(has_scheme("file:/etc/passwd"));
        assert!(!has_scheme("common.yaml"));
        assert!(!has_scheme("./dir:odd/x.yaml"));
    }
}
