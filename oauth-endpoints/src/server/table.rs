//! The dispatch table: path, then method, to an endpoint, in constant time.

use std::collections::HashMap;

use http::Method;
use http::header::HeaderValue;

use crate::route::Route;

/// The methods mounted on one path.
#[derive(Debug)]
pub(crate) struct PathEntry {
    /// `(method, index of the endpoint)`; a path has a handful of methods at most.
    methods: Vec<(Method, usize)>,
    /// The `Allow` header for a 405 on this path (RFC 9110 §15.5.6).
    pub(crate) allow: HeaderValue,
    /// Whether an endpoint on this path accepts cross-origin requests.
    pub(crate) cors: bool,
}

impl PathEntry {
    pub(crate) fn endpoint(&self, method: &Method) -> Option<usize> {
        self.methods
            .iter()
            .find(|(m, _)| m == method)
            .map(|&(_, index)| index)
    }
}

/// Lookup by path (a hash map) then by method; cost does not grow with the number of endpoints.
///
/// Paths and names are hashed with foldhash, seeded per table: faster than SipHash on short
/// strings, and still not predictable from outside.
#[derive(Debug, Default)]
pub(crate) struct Table {
    by_path: foldhash::HashMap<String, PathEntry>,
    by_name: foldhash::HashMap<String, usize>,
}

impl Table {
    /// Builds the table from routes whose index is the endpoint's index. Conflicts were already
    /// rejected by the builder.
    pub(crate) fn new(routes: &[Route]) -> Self {
        let mut methods: HashMap<&str, Vec<(Method, usize)>> = HashMap::new();
        let cors: Vec<&str> = routes
            .iter()
            .filter(|route| route.cors())
            .map(Route::path)
            .collect();
        let mut by_name =
            foldhash::HashMap::with_capacity_and_hasher(routes.len(), Default::default());
        for (index, route) in routes.iter().enumerate() {
            by_name.insert(route.name().to_owned(), index);
            let entry = methods.entry(route.path()).or_default();
            entry.extend(route.methods().iter().map(|m| (m.clone(), index)));
        }
        let by_path = methods
            .into_iter()
            .map(|(path, mut methods)| {
                methods.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
                let allow = methods
                    .iter()
                    .map(|(m, _)| m.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                // Method names are ASCII tokens, so the header value is always valid.
                let allow =
                    HeaderValue::from_str(&allow).unwrap_or_else(|_| HeaderValue::from_static(""));
                let cors = cors.contains(&path);
                (
                    path.to_owned(),
                    PathEntry {
                        methods,
                        allow,
                        cors,
                    },
                )
            })
            .collect();
        Self { by_path, by_name }
    }

    pub(crate) fn path(&self, path: &str) -> Option<&PathEntry> {
        self.by_path.get(path)
    }

    pub(crate) fn name(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }
}
