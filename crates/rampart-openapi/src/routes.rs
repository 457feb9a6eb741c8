//! The route table: path templates of the spec matched against normalised request paths.
//!
//! Templates are split into segments; a segment is a literal or a parameter with an
//! optional literal prefix and suffix (`{id}`, `{name}.json`). Concrete paths win over
//! templated ones (OpenAPI 3 §4.8.8.1): entries are tried in order of more literal
//! segments first, then earlier literal segments first.

use http::Method;

/// One segment of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Lit(String),
    Param {
        prefix: String,
        name: String,
        suffix: String,
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
    /// Specificity: one bit per literal segment, earlier segments weigh more.
    rank: u64,
}

/// The result of matching a request against the table.
#[derive(Debug, PartialEq, Eq)]
pub enum RouteMatch<'a> {
    /// A declared operation, with the raw (still percent-encoded) path parameters.
    Found {
        /// Index of the operation.
        op: usize,
        /// Path parameters in template order.
        params: Vec<(&'a str, &'a str)>,
    },
    /// The path is declared, the method is not.
    MethodNotAllowed {
        /// The value for the `Allow` header.
        allow: &'a str,
    },
    /// No template matches.
    NotFound,
}

/// Why a template is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub &'static str);

/// The compiled route table.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    entries: Vec<Entry>,
}

impl RouteTable {
    /// Adds an operation `op` for `method` on `template`.
    pub fn add(&mut self, template: &str, method: Method, op: usize) -> Result<(), TemplateError> {
        let segments = parse_template(template)?;
        if let Some(entry) = self.entries.iter_mut().find(|e| e.segments == segments) {
            entry.methods.push((method, op));
            return Ok(());
        }
        let rank = segments
            .iter()
            .take(63)
            .enumerate()
            .fold(0u64, |acc, (i, s)| {
                if matches!(s, Seg::Lit(_)) {
                    acc | (1u64 << (62 - i))
                } else {
                    acc
                }
            });
        self.entries.push(Entry {
            segments,
            methods: vec![(method, op)],
            allow: String::new(),
            rank,
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
        self.entries.sort_by(|a, b| {
            let lits = |e: &Entry| {
                e.segments
                    .iter()
                    .filter(|s| matches!(s, Seg::Lit(_)))
                    .count()
            };
            lits(b).cmp(&lits(a)).then(b.rank.cmp(&a.rank))
        });
    }

    /// Matches a path (already stripped of the API's base path) and method.
    pub fn find<'a>(&'a self, method: &Method, path: &'a str) -> RouteMatch<'a> {
        let Some(rest) = path.strip_prefix('/') else {
            return RouteMatch::NotFound;
        };
        let count = rest.split('/').count();
        let mut allow = None;
        for entry in &self.entries {
            if entry.segments.len() != count {
                continue;
            }
            let Some(params) = match_segments(&entry.segments, rest) else {
                continue;
            };
            if let Some((_, op)) = entry.methods.iter().find(|(m, _)| m == method) {
                return RouteMatch::Found { op: *op, params };
            }
            // HEAD is GET without a body (RFC 9110 §9.3.2): allowed where GET is declared
            // and HEAD is not declared separately.
            if method == Method::HEAD
                && let Some((_, op)) = entry.methods.iter().find(|(m, _)| m == Method::GET)
            {
                return RouteMatch::Found { op: *op, params };
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

fn match_segments<'a>(segments: &'a [Seg], rest: &'a str) -> Option<Vec<(&'a str, &'a str)>> {
    let mut params = Vec::new();
    for (seg, part) in segments.iter().zip(rest.split('/')) {
        match seg {
            Seg::Lit(lit) => {
                if lit != part {
                    return None;
                }
            }
            Seg::Param {
                prefix,
                name,
                suffix,
            } => {
                let value = part
                    .strip_prefix(prefix.as_str())?
                    .strip_suffix(suffix.as_str())?;
                if value.is_empty() {
                    return None;
                }
                params.push((name.as_str(), value));
            }
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
        t.add("/users/{id}", Method::GET, 0).unwrap();
        t.add("/users/{id}", Method::DELETE, 1).unwrap();
        t.add("/users/me", Method::GET, 2).unwrap();
        t.add("/files/{name}.json", Method::GET, 3).unwrap();
        t.add("/users", Method::POST, 4).unwrap();
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
                params: vec![("id", "42")]
            }
        );
        assert_eq!(
            t.find(&Method::GET, "/files/report.json"),
            RouteMatch::Found {
                op: 3,
                params: vec![("name", "report")]
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
                params: vec![]
            }
        );
        // DELETE is not declared on /users/me but is on /users/{id}.
        assert_eq!(
            t.find(&Method::DELETE, "/users/me"),
            RouteMatch::Found {
                op: 1,
                params: vec![("id", "me")]
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
                params: vec![]
            }
        );
    }

    #[test]
    fn malformed_templates_are_load_errors() {
        let mut t = RouteTable::default();
        assert!(t.add("users", Method::GET, 0).is_err());
        assert!(t.add("/a/{b", Method::GET, 0).is_err());
        assert!(t.add("/a/{b}{c}", Method::GET, 0).is_err());
        assert!(t.add("/a/{}", Method::GET, 0).is_err());
    }
}
