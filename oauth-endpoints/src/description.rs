//! The static description of an endpoint that `#[oauth_endpoint]` generates.

use std::fmt;

use crate::client_auth::ClientAuthMethod;

/// Where an endpoint was defined: its type and source location, for error messages and the
/// startup log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Source {
    type_name: &'static str,
    module_path: &'static str,
    file: &'static str,
    line: u32,
}

impl Source {
    #[doc(hidden)]
    pub const fn __new(
        type_name: &'static str,
        module_path: &'static str,
        file: &'static str,
        line: u32,
    ) -> Self {
        Self {
            type_name,
            module_path,
            file,
            line,
        }
    }

    /// The source of an explicit registration: the endpoint's type and the caller's location.
    #[track_caller]
    pub(crate) fn caller<E>() -> Self {
        let location = std::panic::Location::caller();
        let type_name = std::any::type_name::<E>();
        let module_path = type_name
            .split('<')
            .next()
            .and_then(|path| path.rsplit_once("::"))
            .map_or("", |(module, _)| module);
        Self::__new(type_name, module_path, location.file(), location.line())
    }

    /// The endpoint type's full path, e.g. `my_crate::endpoints::Revocation`.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// The module that defined the endpoint.
    pub fn module_path(&self) -> &'static str {
        self.module_path
    }

    /// The source file of the attribute (or of the `register_endpoint` call).
    pub fn file(&self) -> &'static str {
        self.file
    }

    /// The line of the attribute (or of the `register_endpoint` call).
    pub fn line(&self) -> u32 {
        self.line
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` at {}:{}", self.type_name, self.file, self.line)
    }
}

/// An endpoint's declaration, as `#[oauth_endpoint(...)]` states it: every field is a constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointDescription {
    name: &'static str,
    path: &'static str,
    methods: &'static [&'static str],
    auth_methods: Option<&'static [ClientAuthMethod]>,
    metadata: Option<&'static str>,
    source: Source,
    cors: bool,
}

impl EndpointDescription {
    #[doc(hidden)]
    pub const fn __new(
        name: &'static str,
        path: &'static str,
        methods: &'static [&'static str],
        auth_methods: Option<&'static [ClientAuthMethod]>,
        metadata: Option<&'static str>,
        source: Source,
    ) -> Self {
        Self {
            name,
            path,
            methods,
            auth_methods,
            metadata,
            source,
            cors: false,
        }
    }

    #[doc(hidden)]
    pub const fn __with_cors(mut self, cors: bool) -> Self {
        self.cors = cors;
        self
    }

    /// Whether the endpoint answers CORS preflights and accepts cross-origin requests from the
    /// origins each client allows (RFC 7009 §2.3).
    pub const fn cors(&self) -> bool {
        self.cors
    }

    /// The endpoint's name, unique in a server (`create_endpoint_response` takes it).
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The default path, before any `mount`.
    pub const fn path(&self) -> &'static str {
        self.path
    }

    /// The HTTP methods, upper case.
    pub const fn methods(&self) -> &'static [&'static str] {
        self.methods
    }

    /// The client authentication methods the endpoint accepts, if declared.
    pub const fn auth_methods(&self) -> Option<&'static [ClientAuthMethod]> {
        self.auth_methods
    }

    /// The RFC 8414 metadata name under which the endpoint's URL is published, if any.
    pub const fn metadata(&self) -> Option<&'static str> {
        self.metadata
    }

    /// Where the endpoint was declared.
    pub const fn source(&self) -> Source {
        self.source
    }
}

/// Implemented by `#[oauth_endpoint]` for the annotated type: its declaration as a constant, so
/// code can name an endpoint without repeating its string (`Revocation::DESCRIPTION.name()`).
pub trait DescribedEndpoint {
    /// The attribute's declaration.
    const DESCRIPTION: EndpointDescription;
}
