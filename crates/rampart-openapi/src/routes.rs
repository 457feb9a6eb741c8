//! The route table: path templates of the spec matched against normalised request paths.
//!
//! Templates are split into segments; a segment is a literal or a parameter with an
//! optional literal prefix and suffix (`{id}`, `{name}.json`). Concrete paths win over
//! templated ones (OpenAPI 3 §4.8.8.1): entries are tried in order of more literal
//! segments first, then earlier literal segments first.
//!
//! Two readings of one path must not name two operations, or the checks run for one
//! while the upstream runs the other:
//! - Path parameters (`/orders/export;jsessionid=1`): servlet containers (Tomcat,
//!   Jetty, Spring) drop them before routing, most other servers keep them as part of
//!   the segment. A segment is matched by its name (the text before `;`), as the
//!   gateway routes; when the whole segment would match another operation, the
//!   request is [`RouteMatch::Ambiguous`]. Captured values are the names; the whole
//!   segments' values, when they differ, are returned too, to be validated as well.
//! - Letter case (`/orders/EXPORT`): case-insensitive routers (Express, ASP.NET Core)
//!   take it for `/orders/export`. A request that matches a more specific template
//!   only when ASCII case is ignored is [`RouteMatch::Ambiguous`].

use http::Method;

/// One segment of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Lit(String),
    Param {
        prefix: String,
        name: String,
        suffix: String,
        /// A `style: matrix` parameter: its value is `;name=...`, the whole segment.
        matrix: bool,
    },
}

/// One path template and the operations declared on it.
#[derive(Debug, Clone)]
struct Entry {
    segments: Vec<Seg>,
    /// Declared methods and their operation indices.
    methods: Vec<(Method, usize)>,
    /// Comma-separated methods, for the `Allow` header.
    allow: String,
    /// Specificity: the number of literal segments, then one bit per literal
    /// segment, earlier segments weighing more. Entries are sorted by it, highest first.
    rank: (usize, u64),
}

impl Entry {
    /// The operation for `method`. HEAD is GET without a body (RFC 9110 §9.3.2):
    /// allowed where GET is declared and HEAD is not declared separately.
    fn operation(&self, method: &Method) -> Option<usize> {
        let find = |wanted: &Method| {
            self.methods
                .iter()
                .find(|(m, _)| m == wanted)
                .map(|(_, op)| *op)
        };
        find(method).or_else(|| {
            if method == Method::HEAD {
                find(&Method::GET)
            } else {
                None
            }
        })
    }
}

/// A path parameter: `(name, raw value)`.
pub type Captured<'a> = (&'a str, &'a str);

/// The result of matching a request against the table.
#[derive(Debug, PartialEq, Eq)]
pub enum RouteMatch<'a> {
    /// A declared operation, with the raw (still percent-encoded) path parameters.
    Found {
        /// Index of the operation.
        op: usize,
        /// Path parameters in template order, without path parameters (`;x`).
        params: Vec<Captured<'a>>,
        /// The values servers that keep path parameters read, where they differ
        /// from `params`' (`42;x` beside `42`): validated too.
        whole: Vec<Captured<'a>>,
    },
    /// The path is declared, the method is not.
    MethodNotAllowed {
        /// The value for the `Allow` header.
        allow: &'a str,
    },
    /// No template matches.
    NotFound,
    /// Upstreams could route the path to another operation than this table does
    /// (see the module documentation).
    Ambiguous,
}

/// Why a template is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub &'static str);

/// The compiled route table.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    entries: Vec<Entry>,
}

/// How a request segment is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// The text before the first `;` (servlet containers, the gateway's routing).
    Names,
    /// The whole segment (most other servers).
    Whole,
}

impl RouteTable {
    /// Adds an operation `op` for `method` on `template`; `matrix` names its
    /// `style: matrix` path parameters.
    pub fn add(
        &mut self,
        template: &str,
        method: Method,
        op: usize,
        matrix: &[&str],
    ) -> Result<(), TemplateError> {
        let mut segments = parse_template(template)?;
        for seg in &mut segments {
            if let Seg::Param {
                name, matrix: m, ..
            } = seg
            {
                *m = matrix.contains(&name.as_str());
            }
        }
        if let Some(entry) = self.entries.iter_mut().find(|e| e.segments == segments) {
            entry.methods.push((method, op));
            return Ok(());
        }
        let is_lit = |s: &Seg| matches!(s, Seg::Lit(_));
        let bits = segments
            .iter()
            .take(63)
            .enumerate()
            .fold(0u64, |acc, (i, s)| {
                if is_lit(s) {
                    acc | (1u64 << (62 - i))
                } else {
                    acc
                }
            });
        let lits = segments.iter().filter(|s| is_lit(s)).count();
        self.entries.push(Entry {
            segments,
            methods: vec![(method, op)],
            allow: String::new(),
            rank: (lits, bits),
        });
        Ok(())
    }

    /// Orders the entries by specificity and fills the `Allow` values; call once after
    /// the last [`RouteTable::add`].
    pub fn finish(&mut self) {
        for entry in &mut self.entries {
            entry.methods.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
            entry.allow = entry
                .methods
                .iter()
                .map(|(m, _)| m.as_str())
                .collect::<Vec<_>>()
                .join(", ");
        }
        self.entries.sort_by_key(|e| std::cmp::Reverse(e.rank));
    }

    /// Matches a path (already stripped of the API's base path) and method.
    pub fn find<'a>(&'a self, method: &Method, path: &'a str) -> RouteMatch<'a> {
        let Some(rest) = path.strip_prefix('/') else {
            return RouteMatch::NotFound;
        };
        // Only a path with `;` has two readings (and pays for the second).
        if !rest.contains(';') {
            return self.find_read(method, rest, Reading::Whole);
        }
        let named = self.find_read(method, rest, Reading::Names);
        let RouteMatch::Found { op, params, .. } = named else {
            return named;
        };
        match self.find_read(method, rest, Reading::Whole) {
            RouteMatch::Found {
                op: other,
                params: whole,
                ..
            } if other == op => {
                let whole = whole
                    .into_iter()
                    .zip(&params)
                    .filter(|(w, p)| w != *p)
                    .map(|(w, _)| w)
                    .collect();
                RouteMatch::Found { op, params, whole }
            }
            // Servers that keep path parameters run another operation.
            RouteMatch::Found { .. } | RouteMatch::Ambiguous => RouteMatch::Ambiguous,
            // They route it nowhere declared: only the servers that drop path
            // parameters run an operation, this one.
            RouteMatch::MethodNotAllowed { .. } | RouteMatch::NotFound => RouteMatch::Found {
                op,
                params,
                whole: Vec::new(),
            },
        }
    }

    fn find_read<'a>(&'a self, method: &Method, rest: &'a str, reading: Reading) -> RouteMatch<'a> {
        let count = rest.split('/').count();
        let mut allow = None;
        // The rank of the most specific entry that declares the method and
        // matches only when ASCII case is ignored.
        let mut folded: Option<(usize, u64)> = None;
        for entry in &self.entries {
            if entry.segments.len() != count || !matches_folded(&entry.segments, rest, reading) {
                continue;
            }
            let op = entry.operation(method);
            let Some(params) = match_segments(&entry.segments, rest, reading) else {
                if op.is_some() {
                    folded.get_or_insert(entry.rank);
                }
                continue;
            };
            if let Some(op) = op {
                // A case-insensitive router takes the more specific template.
                if folded.is_some_and(|rank| rank > entry.rank) {
                    return RouteMatch::Ambiguous;
                }
                return RouteMatch::Found {
                    op,
                    params,
                    whole: Vec::new(),
                };
            }
            // Keep looking: a less specific template may declare the method.
            allow.get_or_insert(entry.allow.as_str());
        }
        match allow {
            Some(allow) => RouteMatch::MethodNotAllowed { allow },
            None => RouteMatch::NotFound,
        }
    }
}

/// What a segment captures (`""` for a literal), or `None` when `part` does not
/// match it; `fold` ignores ASCII case.
fn capture<'a>(seg: &Seg, part: &'a str, reading: Reading, fold: bool) -> Option<&'a str> {
    let name = |part: &'a str| match reading {
        Reading::Names => part.split(';').next().unwrap_or(part),
        Reading::Whole => part,
    };
    let same = |a: &str, b: &str| {
        if fold {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    };
    match seg {
        Seg::Lit(lit) => same(lit, name(part)).then_some(""),
        Seg::Param {
            prefix,
            suffix,
            matrix,
            ..
        } => {
            let text = if *matrix { part } else { name(part) };
            let after = text
                .get(..prefix.len())
                .filter(|p| same(p, prefix))
                .and_then(|_| text.get(prefix.len()..))?;
            let end = after.len().checked_sub(suffix.len())?;
            let value = after
                .get(end..)
                .filter(|s| same(s, suffix))
                .and_then(|_| after.get(..end))?;
            (!value.is_empty()).then_some(value)
        }
    }
}

fn matches_folded(segments: &[Seg], rest: &str, reading: Reading) -> bool {
    segments
        .iter()
        .zip(rest.split('/'))
        .all(|(seg, part)| capture(seg, part, reading, true).is_some())
}

fn match_segments<'a>(
    segments: &'a [Seg],
    rest: &'a str,
    reading: Reading,
) -> Option<Vec<Captured<'a>>> {
    let mut params = Vec::new();
    for (seg, part) in segments.iter().zip(rest.split('/')) {
        let value = capture(seg, part, reading, false)?;
        if let Seg::Param { name, .. } = seg {
            params.push((name.as_str(), value));
        }
    }
    Some(params)
}

fn parse_template(template: &str) -> Result<Vec<Seg>, TemplateError> {
    let rest = template
        .strip_prefix('/')
        .ok_or(TemplateError("path must start with '/'"))?;
    let mut segments = Vec::new();
    for part in rest.split('/') {
        match part.find('{') {
            None => {
                if part.contains('}') {
                    return Err(TemplateError("unbalanced '}' in path template"));
                }
                segments.push(Seg::Lit(part.to_string()));
            }
            Some(open) => {
                let (prefix, after_open) = part.split_at(open);
                let close = after_open
                    .find('}')
                    .ok_or(TemplateError("unclosed '{' in path template"))?;
                let name = after_open
                    .get(1..close)
                    .ok_or(TemplateError("malformed parameter in path template"))?;
                let suffix = after_open.get(close + 1..).unwrap_or("");
                if name.is_empty()
                    || name.contains('{')
                    || prefix.contains('}')
                    || suffix.contains('{')
                    || suffix.contains('}')
                {
                    return Err(TemplateError(
                        "one named parameter per path segment is supported",
                    ));
                }
                segments.push(Seg::Param {
                    prefix: prefix.to_string(),
                    name: name.to_string(),
                    suffix: suffix.to_string(),
                    matrix: false,
                });
            }
        }
    }
    Ok(segments)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        let mut t = RouteTable::default();
        t.add("/users/{id}", Method::GET, 0, &[]).unwrap();
        t.add("/users/{id}", Method::DELETE, 1, &[]).unwrap();
        t.add("/users/me", Method::GET, 2, &[]).unwrap();
        t.add("/files/{name}.json", Method::GET, 3, &[]).unwrap();
        t.add("/users", Method::POST, 4, &[]).unwrap();
        t.finish();
        t
    }

    #[test]
    fn declared_operations_match_with_parameters() {
        let t = table();
        assert_eq!(
            t.find(&Method::GET, "/users/42"),
            RouteMatch::Found {
                op: 0,
                params: vec![("id", "42")],
                whole: vec![]
            }
        );
        assert_eq!(
            t.find(&Method::GET, "/files/report.json"),
            RouteMatch::Found {
                op: 3,
                params: vec![("name", "report")],
                whole: vec![]
            }
        );
    }

    #[test]
    fn concrete_paths_win_over_templates() {
        let t = table();
        assert_eq!(
            t.find(&Method::GET, "/users/me"),
            RouteMatch::Found {
                op: 2,
                params: vec![],
                whole: vec![]
            }
        );
        // DELETE is not declared on /users/me but is on /users/{id}.
        assert_eq!(
            t.find(&Method::DELETE, "/users/me"),
            RouteMatch::Found {
                op: 1,
                params: vec![("id", "me")],
                whole: vec![]
            }
        );
    }

    #[test]
    fn unknown_paths_and_methods_are_refused() {
        let t = table();
        assert_eq!(t.find(&Method::GET, "/admin"), RouteMatch::NotFound);
        assert_eq!(t.find(&Method::GET, "/users/42/"), RouteMatch::NotFound);
        assert_eq!(t.find(&Method::GET, "/users//"), RouteMatch::NotFound);
        assert_eq!(
            t.find(&Method::GET, "/files/report.xml"),
            RouteMatch::NotFound
        );
        assert_eq!(
            t.find(&Method::PUT, "/users/42"),
            RouteMatch::MethodNotAllowed {
                allow: "DELETE, GET"
            }
        );
        assert_eq!(
            t.find(&Method::GET, "/users"),
            RouteMatch::MethodNotAllowed { allow: "POST" }
        );
        assert_eq!(
            t.find(&Method::HEAD, "/users"),
            RouteMatch::MethodNotAllowed { allow: "POST" }
        );
    }

    #[test]
    fn head_follows_get() {
        let t = table();
        assert_eq!(
            t.find(&Method::HEAD, "/users/me"),
            RouteMatch::Found {
                op: 2,
                params: vec![],
                whole: vec![]
            }
        );
    }

    fn orders() -> RouteTable {
        let mut t = RouteTable::default();
        t.add("/orders/{id}", Method::GET, 0, &[]).unwrap();
        t.add("/orders/export", Method::GET, 1, &[]).unwrap();
        t.add("/health", Method::GET, 2, &[]).unwrap();
        t.add("/m/{x}", Method::GET, 3, &["x"]).unwrap();
        t.finish();
        t
    }

    #[test]
    fn both_readings_of_path_parameters_must_name_one_operation() {
        let t = orders();
        let found = |op, params, whole| RouteMatch::Found { op, params, whole };
        // Tomcat: /orders/export; Express: /orders/{id} with "export;x".
        assert_eq!(
            t.find(&Method::GET, "/orders/export;x"),
            RouteMatch::Ambiguous
        );
        assert_eq!(
            t.find(&Method::GET, "/health;jsessionid=1"),
            found(2, vec![], vec![])
        );
        assert_eq!(
            t.find(&Method::GET, "/orders/42;x"),
            found(0, vec![("id", "42")], vec![("id", "42;x")])
        );
        assert_eq!(
            t.find(&Method::GET, "/m/;x=1"),
            found(3, vec![("x", ";x=1")], vec![])
        );
        assert_eq!(t.find(&Method::GET, "/orders/;x"), RouteMatch::NotFound);
        assert_eq!(t.find(&Method::GET, "/health;x/a"), RouteMatch::NotFound);
    }

    #[test]
    fn case_variants_of_a_more_specific_literal_are_ambiguous() {
        let t = orders();
        assert_eq!(
            t.find(&Method::GET, "/orders/EXPORT"),
            RouteMatch::Ambiguous
        );
        assert_eq!(t.find(&Method::GET, "/ORDERS/42"), RouteMatch::NotFound);
        assert_eq!(t.find(&Method::GET, "/HEALTH"), RouteMatch::NotFound);
        assert_eq!(
            t.find(&Method::HEAD, "/orders/Export"),
            RouteMatch::Ambiguous
        );
        // The literal declares no DELETE: no router picks it for one.
        let mut t = t;
        t.add("/orders/{id}", Method::DELETE, 4, &[]).unwrap();
        t.finish();
        assert_eq!(
            t.find(&Method::DELETE, "/orders/EXPORT"),
            RouteMatch::Found {
                op: 4,
                params: vec![("id", "EXPORT")],
                whole: vec![]
            }
        );
    }

    #[test]
    fn malformed_templates_are_load_errors() {
        let mut t = RouteTable::default();
        assert!(t.add("users", Method::GET, 0, &[]).is_err());
        assert!(t.add("/a/{b", Method::GET, 0, &[]).is_err());
        assert!(t.add("/a/{b}{c}", Method::GET, 0, &[]).is_err());
        assert!(t.add("/a/{}", Method::GET, 0, &[]).is_err());
    }
}
