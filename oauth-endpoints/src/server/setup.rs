//! [`Setup`]: what an endpoint or grant sees of the server being built, to tell whether it can
//! serve on it; [`Unmounted`]: one that could not, and why.

use std::fmt;

use serde_json::{Map, Value};

use crate::config::ServerConfig;
use crate::state::StateMap;

/// The server being built, as [`Endpoint::check_setup`](crate::Endpoint::check_setup) and
/// [`Grant::check_setup`](crate::Grant::check_setup) see it: the state given with
/// `.with_state(...)` and the configuration.
pub struct Setup<'a> {
    pub(crate) state: &'a StateMap,
    pub(crate) config: &'a ServerConfig,
    /// What the endpoint or grant being asked publishes, kept if it is mounted.
    pub(crate) published: Map<String, Value>,
}

impl Setup<'_> {
    /// The value of type `T` given to the builder with `.with_state(value)`, as
    /// [`Context::state`](crate::Context::state) will answer.
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.state.get()
    }

    /// The server's configuration.
    pub fn config(&self) -> &ServerConfig {
        self.config
    }

    /// Publishes `name` in the RFC 8414 metadata document, if the endpoint or grant is
    /// mounted (its `check_setup` returns `Ok`): what it supports, such as
    /// `code_challenge_methods_supported`. A member the server computes itself (`issuer`, the
    /// endpoints' URLs, `grant_types_supported`) cannot be replaced; the builder's
    /// `metadata_field` must agree with a published member or `build()` fails.
    pub fn publish(&mut self, name: impl Into<String>, value: impl Into<Value>) {
        self.published.insert(name.into(), value.into());
    }
}

impl fmt::Debug for Setup<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Setup").finish_non_exhaustive()
    }
}

/// An annotated endpoint or grant type that the server left out because its
/// `check_setup` refused the server's setup: it answers nothing and is not in the metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmounted {
    /// The endpoint's name, or the grant's `grant_type`.
    pub name: String,
    /// Whether it is a grant type (else an endpoint).
    pub grant: bool,
    /// What it lacks, as its `check_setup` said.
    pub reason: String,
}

impl fmt::Display for Unmounted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.grant { "grant type" } else { "endpoint" };
        write!(f, "{what} `{}` is not mounted: {}", self.name, self.reason)
    }
}
