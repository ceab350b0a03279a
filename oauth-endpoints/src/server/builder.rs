//! [`AuthorizationServerBuilder`]: collects, selects and validates endpoints.

// `BuildError` names two culprits with their sources; it is returned once, at startup, so its
// size does not matter.
#![allow(clippy::result_large_err)]

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use http::Method;

use crate::client_auth::ClientAuthMethod;
use crate::config::ServerConfig;
use crate::context::{Context, Shared};
use crate::description::Source;
use crate::endpoint::{DynEndpoint, Endpoint};
use crate::registration;
use crate::route::{Route, check_path, parse_methods};
use crate::server::spec::EndpointSpec;
use crate::server::table::Table;
use crate::server::{AuthorizationServer, BuildError, Inner};
use crate::state::StateMap;

/// How a candidate endpoint is obtained.
enum Instance {
    /// An annotated type, constructed by `Default` when the server is built.
    Factory(fn() -> Arc<dyn DynEndpoint>),
    /// An instance registered explicitly.
    Ready(Arc<dyn DynEndpoint>),
}

/// An endpoint that may be mounted.
struct Candidate {
    spec: EndpointSpec,
    source: Source,
    instance: Instance,
}

/// Builds an [`AuthorizationServer`]: starts from every endpoint annotated with
/// `#[oauth_endpoint]` in the linked crates, then applies your selections and registrations.
///
/// `exclude` and `only` select among the *collected* (annotated) endpoints; explicitly
/// registered instances are always mounted. `mount` moves any endpoint, collected or explicit.
#[must_use]
pub struct AuthorizationServerBuilder {
    explicit: Vec<Candidate>,
    exclude: Vec<String>,
    only: Option<Vec<String>>,
    mounts: Vec<(String, String)>,
    state: StateMap,
    config: ServerConfig,
}

impl AuthorizationServerBuilder {
    pub(crate) fn new() -> Self {
        Self {
            explicit: Vec::new(),
            exclude: Vec::new(),
            only: None,
            mounts: Vec::new(),
            state: StateMap::default(),
            config: ServerConfig::default(),
        }
    }

    /// Registers an endpoint instance under `name` at `path` for `methods` (one method or a
    /// comma-separated list), accepting `client_secret_basic`, as Authlib's `register_endpoint`.
    #[track_caller]
    pub fn register_endpoint<E: Endpoint>(
        self,
        endpoint: E,
        name: impl Into<Cow<'static, str>>,
        path: impl Into<String>,
        methods: &str,
    ) -> Self {
        let spec = EndpointSpec::new(name, path).methods(methods);
        self.register(spec, endpoint)
    }

    /// Registers an endpoint instance with a full declaration.
    #[track_caller]
    pub fn register<E: Endpoint>(mut self, spec: EndpointSpec, endpoint: E) -> Self {
        self.explicit.push(Candidate {
            spec,
            source: Source::caller::<E>(),
            instance: Instance::Ready(Arc::new(endpoint)),
        });
        self
    }

    /// Leaves out the collected endpoint named `name` (e.g. to replace a built-in).
    pub fn exclude(mut self, name: impl Into<String>) -> Self {
        self.exclude.push(name.into());
        self
    }

    /// Mounts only the named collected endpoints (explicit registrations are kept).
    pub fn only<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.only = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Mounts the endpoint named `name` at `path` instead of its declared path.
    pub fn mount(mut self, name: impl Into<String>, path: impl Into<String>) -> Self {
        self.mounts.push((name.into(), path.into()));
        self
    }

    /// Stores a value that endpoints read with [`Context::state`].
    pub fn with_state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.state.insert(value);
        self
    }

    /// The largest request body accepted (default 64 KiB); larger ones are refused with 413.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.config.body_limit = bytes;
        self
    }

    /// Validates every endpoint and builds the dispatch table and route list.
    ///
    /// Fails, naming the culprits and their source locations, on two endpoints with one name,
    /// two endpoints answering one method on one path, an exclusion, `only` entry or mount that
    /// names no endpoint, and an invalid name, path or method.
    pub fn build(self) -> Result<AuthorizationServer, BuildError> {
        let Self {
            explicit,
            exclude,
            only,
            mounts,
            state,
            config,
        } = self;

        let mut candidates = select(collect(), &exclude, only.as_deref())?;
        candidates.extend(explicit);
        apply_mounts(&mut candidates, mounts)?;
        let routes = validate(&candidates)?;

        // Sort by path, then name, whatever the link order; endpoint indices follow.
        let mut mounted: Vec<(Route, Candidate)> = routes.into_iter().zip(candidates).collect();
        mounted.sort_by(|(a, _), (b, _)| (a.path(), a.name()).cmp(&(b.path(), b.name())));
        let (routes, candidates): (Vec<Route>, Vec<Candidate>) = mounted.into_iter().unzip();
        check_route_conflicts(&routes)?;

        let table = Table::new(&routes);
        let shared = Arc::new(Shared {
            state,
            config,
            routes,
        });
        let endpoints = candidates
            .into_iter()
            .enumerate()
            .map(|(index, candidate)| {
                let endpoint = match candidate.instance {
                    Instance::Factory(factory) => factory(),
                    Instance::Ready(endpoint) => endpoint,
                };
                (endpoint, Context::new(Arc::clone(&shared), index))
            })
            .collect();
        for route in &shared.routes {
            let methods: Vec<&str> = route.methods().iter().map(Method::as_str).collect();
            tracing::info!(
                endpoint = route.name(),
                path = route.path(),
                methods = methods.join(", "),
                module = route.source().module_path(),
                "mounted OAuth endpoint"
            );
        }
        Ok(AuthorizationServer {
            inner: Arc::new(Inner {
                endpoints,
                table,
                shared,
            }),
        })
    }
}

/// Every annotated endpoint linked into the program.
fn collect() -> Vec<Candidate> {
    registration::collected()
        .map(|registration| {
            let description = registration.description;
            Candidate {
                spec: EndpointSpec {
                    name: Cow::Borrowed(description.name()),
                    path: description.path().to_owned(),
                    methods: description.methods().join(", "),
                    auth_methods: description
                        .auth_methods()
                        .unwrap_or(ClientAuthMethod::DEFAULT)
                        .to_vec(),
                    metadata: description.metadata().map(Cow::Borrowed),
                },
                source: description.source(),
                instance: Instance::Factory(registration.factory),
            }
        })
        .collect()
}

/// Applies `exclude` and `only` to the collected endpoints.
fn select(
    collected: Vec<Candidate>,
    exclude: &[String],
    only: Option<&[String]>,
) -> Result<Vec<Candidate>, BuildError> {
    let known = |name: &String| collected.iter().any(|c| c.spec.name == name.as_str());
    if let Some(name) = exclude.iter().find(|name| !known(name)) {
        return Err(BuildError::UnknownExclusion { name: name.clone() });
    }
    if let Some(name) = only.and_then(|only| only.iter().find(|name| !known(name))) {
        return Err(BuildError::UnknownOnly { name: name.clone() });
    }
    Ok(collected
        .into_iter()
        .filter(|c| !exclude.iter().any(|name| c.spec.name == name.as_str()))
        .filter(|c| only.is_none_or(|only| only.iter().any(|name| c.spec.name == name.as_str())))
        .collect())
}

fn apply_mounts(
    candidates: &mut [Candidate],
    mounts: Vec<(String, String)>,
) -> Result<(), BuildError> {
    for (name, path) in mounts {
        let mut found = false;
        for candidate in candidates
            .iter_mut()
            .filter(|c| c.spec.name == name.as_str())
        {
            candidate.spec.path.clone_from(&path);
            found = true;
        }
        if !found {
            return Err(BuildError::UnknownMount { name, path });
        }
    }
    Ok(())
}

/// Checks names, paths and methods, and that names are unique; returns one route per candidate.
fn validate(candidates: &[Candidate]) -> Result<Vec<Route>, BuildError> {
    let mut routes = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        let spec = &candidate.spec;
        let at = candidate.source;
        if spec.name.is_empty() || spec.name.chars().any(char::is_whitespace) {
            return Err(BuildError::InvalidName {
                name: spec.name.to_string(),
                at,
            });
        }
        check_path(&spec.path).map_err(|reason| BuildError::InvalidPath {
            name: spec.name.to_string(),
            path: spec.path.clone(),
            reason,
            at,
        })?;
        let methods = parse_methods(&spec.methods).map_err(|method| BuildError::InvalidMethod {
            name: spec.name.to_string(),
            method,
            at,
        })?;
        routes.push(Route {
            name: spec.name.clone(),
            path: spec.path.clone(),
            methods,
            auth_methods: spec.auth_methods.clone(),
            metadata: spec.metadata.clone(),
            source: at,
        });
    }

    let mut by_name: Vec<&Route> = routes.iter().collect();
    by_name.sort_by(|a, b| (a.name(), a.source()).cmp(&(b.name(), b.source())));
    if let Some(pair) = by_name
        .windows(2)
        .find(|pair| pair[0].name() == pair[1].name())
    {
        return Err(BuildError::DuplicateName {
            name: pair[0].name().to_owned(),
            first: pair[0].source(),
            second: pair[1].source(),
        });
    }
    Ok(routes)
}

/// Two endpoints may share a path, but not a method on it. `routes` is sorted by path then name.
fn check_route_conflicts(routes: &[Route]) -> Result<(), BuildError> {
    let mut seen: HashMap<(&str, &Method), &Route> = HashMap::new();
    for route in routes {
        for method in route.methods() {
            if let Some(first) = seen.insert((route.path(), method), route) {
                return Err(BuildError::DuplicateRoute {
                    method: method.clone(),
                    path: route.path().to_owned(),
                    first_name: first.name().to_owned(),
                    first: first.source(),
                    second_name: route.name().to_owned(),
                    second: route.source(),
                });
            }
        }
    }
    Ok(())
}
