//! Every `BuildError`: registry conflicts and mistakes that `build()` refuses, naming the culprits.
//!
//! Every annotated endpoint in this file is collected by every builder in this test binary. Two of
//! them share a name and two share a route on purpose, so each test selects with `only`.

// The helpers below unwrap; they run only inside tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::any::type_name;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use oauth_endpoints::endpoint::{Source, json_response};
use oauth_endpoints::server::EndpointSpec;
use oauth_endpoints::{
    AuthorizationServer, AuthorizationServerBuilder, BuildError, Context, Endpoint, EndpointResult,
    oauth_endpoint,
};
use serde_json::json;

fn ok(cx: &Context) -> EndpointResult {
    Ok(json_response(
        StatusCode::OK,
        &json!({ "endpoint": cx.route().name() }),
    ))
}

/// Two annotated types named `twin`.
#[derive(Default)]
#[oauth_endpoint(name = "twin", path = "/twin/a")]
struct TwinA;

impl Endpoint for TwinA {
    async fn handle(&self, cx: &Context, _request: Request<Bytes>) -> EndpointResult {
        ok(cx)
    }
}

#[derive(Default)]
#[oauth_endpoint(name = "twin", path = "/twin/b")]
struct TwinB;

impl Endpoint for TwinB {
    async fn handle(&self, cx: &Context, _request: Request<Bytes>) -> EndpointResult {
        ok(cx)
    }
}

/// Two annotated types that both answer `POST /clash`, and a third on another method there.
#[derive(Default)]
#[oauth_endpoint(name = "clash-one", path = "/clash", methods = "GET, POST")]
struct ClashOne;

impl Endpoint for ClashOne {
    async fn handle(&self, cx: &Context, _request: Request<Bytes>) -> EndpointResult {
        ok(cx)
    }
}

#[derive(Default)]
#[oauth_endpoint(name = "clash-two", path = "/clash", methods = "POST")]
struct ClashTwo;

impl Endpoint for ClashTwo {
    async fn handle(&self, cx: &Context, _request: Request<Bytes>) -> EndpointResult {
        ok(cx)
    }
}

#[derive(Default)]
#[oauth_endpoint(name = "clash-delete", path = "/clash", methods = "DELETE")]
struct ClashDelete;

impl Endpoint for ClashDelete {
    async fn handle(&self, cx: &Context, _request: Request<Bytes>) -> EndpointResult {
        ok(cx)
    }
}

#[derive(Default)]
#[oauth_endpoint(name = "fine", path = "/fine", methods = "GET")]
struct Fine;

impl Endpoint for Fine {
    async fn handle(&self, cx: &Context, _request: Request<Bytes>) -> EndpointResult {
        ok(cx)
    }
}

/// Registered explicitly.
struct Explicit;

impl Endpoint for Explicit {
    async fn handle(&self, cx: &Context, _request: Request<Bytes>) -> EndpointResult {
        ok(cx)
    }
}

/// A builder with only the named collected endpoints.
fn only(names: &[&str]) -> AuthorizationServerBuilder {
    AuthorizationServer::builder().only(names.iter().copied())
}

/// Builds, expecting an error.
fn fails(builder: AuthorizationServerBuilder) -> BuildError {
    builder.build().unwrap_err()
}

/// The line of this file that a source location points at.
fn source_line(source: Source) -> &'static str {
    assert!(source.file().ends_with("build_errors.rs"), "{source}");
    include_str!("build_errors.rs")
        .lines()
        .nth(source.line() as usize - 1)
        .unwrap()
}

#[test]
fn the_endpoints_here_conflict_unless_selected() {
    // Proves the selections below matter: with everything collected, the build fails.
    assert!(matches!(
        fails(AuthorizationServer::builder()),
        BuildError::DuplicateName { .. } | BuildError::DuplicateRoute { .. }
    ));
    let server = only(&["fine", "clash-one"]).build().unwrap();
    assert_eq!(server.routes().len(), 2);
}

#[test]
fn two_annotated_types_with_one_name() {
    let error = fails(only(&["twin"]));
    let BuildError::DuplicateName {
        name,
        first,
        second,
    } = &error
    else {
        panic!("expected DuplicateName, got {error:?}");
    };
    assert_eq!(name, "twin");
    let mut types = [first.type_name(), second.type_name()];
    types.sort_unstable();
    assert_eq!(types, [type_name::<TwinA>(), type_name::<TwinB>()]);
    assert!(source_line(*first).contains(r#"name = "twin""#));
    assert!(source_line(*second).contains(r#"name = "twin""#));

    let message = error.to_string();
    assert!(message.contains("`twin`"), "{message}");
    assert!(message.contains("build_errors::TwinA"), "{message}");
    assert!(message.contains("build_errors::TwinB"), "{message}");
    assert!(message.contains("build_errors.rs:"), "{message}");

    // Leaving both out (one `exclude` covers every endpoint with the name) builds.
    AuthorizationServer::builder()
        .exclude("twin")
        .exclude("clash-two")
        .build()
        .unwrap();
}

#[test]
fn an_annotated_and_an_explicit_endpoint_with_one_name() {
    let error = fails(only(&["fine"]).register_endpoint("fine", "/other", [Method::GET], Explicit));
    let BuildError::DuplicateName {
        name,
        first,
        second,
    } = &error
    else {
        panic!("expected DuplicateName, got {error:?}");
    };
    assert_eq!(name, "fine");
    let (annotated, explicit) = if first.type_name() == type_name::<Fine>() {
        (first, second)
    } else {
        (second, first)
    };
    assert_eq!(annotated.type_name(), type_name::<Fine>());
    assert_eq!(explicit.type_name(), type_name::<Explicit>());
    // The explicit source is the `register_endpoint` call.
    assert!(source_line(*annotated).contains("#[oauth_endpoint("));
    assert!(source_line(*explicit).contains("register_endpoint("));

    let message = error.to_string();
    assert!(message.contains("`fine`"), "{message}");
    assert!(message.contains("build_errors::Fine"), "{message}");
    assert!(message.contains("build_errors::Explicit"), "{message}");
}

#[test]
fn two_explicit_endpoints_with_one_name() {
    let error = fails(
        only(&[])
            .register_endpoint("same", "/one", [Method::POST], Explicit)
            .register_endpoint("same", "/two", [Method::POST], Explicit),
    );
    let BuildError::DuplicateName {
        name,
        first,
        second,
    } = &error
    else {
        panic!("expected DuplicateName, got {error:?}");
    };
    assert_eq!(name, "same");
    // Each source is its own `register_endpoint` call.
    assert_ne!(first.line(), second.line());
    assert!(source_line(*first).contains("register_endpoint("));
    assert!(source_line(*second).contains("register_endpoint("));
}

#[test]
fn two_annotated_endpoints_answering_one_method_on_one_path() {
    let error = fails(only(&["clash-one", "clash-two"]));
    let BuildError::DuplicateRoute {
        method,
        path,
        first_name,
        first,
        second_name,
        second,
    } = &error
    else {
        panic!("expected DuplicateRoute, got {error:?}");
    };
    assert_eq!(*method, Method::POST);
    assert_eq!(path, "/clash");
    assert_eq!(
        (first_name.as_str(), second_name.as_str()),
        ("clash-one", "clash-two")
    );
    assert_eq!(first.type_name(), type_name::<ClashOne>());
    assert_eq!(second.type_name(), type_name::<ClashTwo>());

    let message = error.to_string();
    for needle in [
        "`POST /clash`",
        "`clash-one`",
        "`clash-two`",
        "build_errors::ClashOne",
        "build_errors::ClashTwo",
    ] {
        assert!(message.contains(needle), "{needle} in {message}");
    }
}

#[test]
fn an_explicit_endpoint_on_an_annotated_route() {
    let error = fails(only(&["fine"]).register_endpoint(
        "also-fine",
        "/fine",
        [Method::POST, Method::GET],
        Explicit,
    ));
    let BuildError::DuplicateRoute {
        method,
        path,
        first_name,
        second_name,
        ..
    } = &error
    else {
        panic!("expected DuplicateRoute, got {error:?}");
    };
    assert_eq!((method, path.as_str()), (&Method::GET, "/fine"));
    assert_eq!(
        (first_name.as_str(), second_name.as_str()),
        ("also-fine", "fine")
    );
}

#[test]
fn a_mount_onto_a_taken_route() {
    let error = fails(only(&["fine", "clash-one"]).mount("fine", "/clash"));
    let BuildError::DuplicateRoute { method, path, .. } = &error else {
        panic!("expected DuplicateRoute, got {error:?}");
    };
    assert_eq!((method, path.as_str()), (&Method::GET, "/clash"));
}

#[tokio::test]
async fn different_methods_on_one_path_are_fine() {
    let server = only(&["clash-one", "clash-delete"])
        .register_endpoint("clash-put", "/clash", [Method::PUT], Explicit)
        .build()
        .unwrap();
    assert_eq!(server.routes().len(), 3);
    for (method, name) in [
        (Method::GET, "clash-one"),
        (Method::POST, "clash-one"),
        (Method::DELETE, "clash-delete"),
        (Method::PUT, "clash-put"),
    ] {
        let request = Request::builder()
            .method(method)
            .uri("/clash")
            .body(Bytes::new())
            .unwrap();
        let response = server.dispatch(request).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(response.body()).unwrap(),
            json!({ "endpoint": name })
        );
    }
}

#[test]
fn an_unknown_exclusion() {
    let error = fails(only(&["fine"]).exclude("nope"));
    assert_eq!(
        error,
        BuildError::UnknownExclusion {
            name: "nope".to_owned()
        }
    );
    assert!(error.to_string().contains("`exclude(\"nope\")`"));

    // `exclude` selects among collected endpoints: an explicit name is unknown to it.
    let error = fails(
        only(&["fine"])
            .register_endpoint("explicit", "/explicit", [Method::POST], Explicit)
            .exclude("explicit"),
    );
    assert!(matches!(error, BuildError::UnknownExclusion { name } if name == "explicit"));
}

#[test]
fn an_unknown_only_entry() {
    let error = fails(only(&["fine", "nope"]));
    assert_eq!(
        error,
        BuildError::UnknownOnly {
            name: "nope".to_owned()
        }
    );
    assert!(error.to_string().contains("`nope`"));
}

#[test]
fn an_unknown_mount() {
    let error = fails(only(&["fine"]).mount("nope", "/somewhere"));
    assert_eq!(
        error,
        BuildError::UnknownMount {
            name: "nope".to_owned(),
            path: "/somewhere".to_owned(),
        }
    );
    assert!(
        error
            .to_string()
            .contains("`mount(\"nope\", \"/somewhere\")`")
    );

    // A mount may name an endpoint that `only` left out: it is unknown too.
    let error = fails(only(&["fine"]).mount("clash-one", "/elsewhere"));
    assert!(matches!(error, BuildError::UnknownMount { name, .. } if name == "clash-one"));
}

#[test]
fn an_invalid_path_through_mount() {
    let error = fails(only(&["fine"]).mount("fine", "no-slash"));
    let BuildError::InvalidPath {
        name,
        path,
        reason,
        at,
    } = &error
    else {
        panic!("expected InvalidPath, got {error:?}");
    };
    assert_eq!((name.as_str(), path.as_str()), ("fine", "no-slash"));
    assert_eq!(*reason, "must start with `/`");
    assert_eq!(at.type_name(), type_name::<Fine>());
    let message = error.to_string();
    assert!(message.contains("`no-slash`"), "{message}");
    assert!(message.contains("build_errors::Fine"), "{message}");

    for (bad, reason) in [
        ("/a b", "whitespace"),
        ("/a?b=1", "query"),
        ("/a#b", "fragment"),
        ("/\u{e9}", "ASCII"),
        ("", "start with"),
    ] {
        let error = fails(only(&["fine"]).mount("fine", bad));
        assert!(
            matches!(&error, BuildError::InvalidPath { path, reason: why, .. } if path == bad && why.contains(reason)),
            "{bad:?}: {error:?}"
        );
    }
}

#[test]
fn an_invalid_path_through_register_endpoint() {
    let error = fails(only(&[]).register_endpoint("spaced", "/a b", [Method::POST], Explicit));
    let BuildError::InvalidPath { name, at, .. } = &error else {
        panic!("expected InvalidPath, got {error:?}");
    };
    assert_eq!(name, "spaced");
    assert!(source_line(*at).contains("register_endpoint("));
}

#[test]
fn an_invalid_method_through_register_endpoint() {
    let extension = |name: &[u8]| Method::from_bytes(name).unwrap();
    for (methods, offending) in [
        (vec![extension(b"FETCH")], "FETCH"),
        (vec![extension(b"get")], "get"),
        (vec![Method::GET, Method::POST, Method::GET], "GET"),
        (vec![], ""),
        (vec![Method::CONNECT], "CONNECT"),
    ] {
        let error = fails(only(&[]).register_endpoint("odd", "/odd", methods.clone(), Explicit));
        let BuildError::InvalidMethod { name, method, at } = &error else {
            panic!("{methods:?}: expected InvalidMethod, got {error:?}");
        };
        assert_eq!(
            (name.as_str(), method.as_str()),
            ("odd", offending),
            "{methods:?}"
        );
        assert_eq!(at.type_name(), type_name::<Explicit>());
        assert!(error.to_string().contains("`odd`"));
    }

    // Through `register` and an `EndpointSpec` too.
    let error = fails(only(&[]).register(
        EndpointSpec::new("odd", "/odd").methods([Method::TRACE]),
        Explicit,
    ));
    assert!(matches!(error, BuildError::InvalidMethod { method, .. } if method == "TRACE"));
}

#[test]
fn an_invalid_name_through_register_endpoint() {
    for bad in ["", "two words", "tab\there", "line\n"] {
        let error = fails(only(&[]).register_endpoint(bad, "/named", [Method::POST], Explicit));
        let BuildError::InvalidName { name, at } = &error else {
            panic!("{bad:?}: expected InvalidName, got {error:?}");
        };
        assert_eq!(name, bad);
        assert_eq!(at.type_name(), type_name::<Explicit>());
        assert!(source_line(*at).contains("register_endpoint("));
        assert!(error.to_string().contains("build_errors::Explicit"));
    }
}

#[test]
fn an_explicit_endpoint_must_accept_some_auth_method() {
    let error = oauth_endpoints::AuthorizationServer::builder()
        .only(Vec::<String>::new())
        .register(
            oauth_endpoints::server::EndpointSpec::new("no-auth", "/no-auth").auth_methods([]),
            Explicit,
        )
        .build()
        .unwrap_err();
    assert!(
        matches!(error, oauth_endpoints::BuildError::NoAuthMethods { ref name, .. } if name == "no-auth"),
        "{error}"
    );
}

#[test]
fn an_explicit_metadata_name_must_be_snake_case() {
    let error = oauth_endpoints::AuthorizationServer::builder()
        .only(Vec::<String>::new())
        .register(
            oauth_endpoints::server::EndpointSpec::new("bad-meta", "/bad-meta")
                .metadata("Not Snake"),
            Explicit,
        )
        .build()
        .unwrap_err();
    assert!(
        matches!(error, oauth_endpoints::BuildError::InvalidMetadataName { ref metadata, .. } if metadata == "Not Snake"),
        "{error}"
    );
}

/// Methods separated by spaces, as `auth_methods` may be: one list rule for both.
#[derive(Default)]
#[oauth_endpoint(
    name = "spaced",
    path = "/spaced",
    methods = "GET POST",
    auth_methods = "client_secret_basic, client_secret_post"
)]
struct Spaced;

impl Endpoint for Spaced {
    async fn handle(&self, cx: &Context, _request: Request<Bytes>) -> EndpointResult {
        ok(cx)
    }
}

#[test]
fn method_lists_take_commas_or_spaces() {
    let server = only(&["spaced"]).build().unwrap();
    let route = &server.routes()[0];
    assert_eq!(route.methods(), &[Method::GET, Method::POST]);
}

#[test]
fn a_required_endpoint_or_grant_that_is_not_linked_is_an_error_that_says_how_to_link_it() {
    // Collected, so required without error.
    let server = only(&["fine"])
        .require_endpoint("fine")
        .require_grant("client_credentials")
        .build();
    assert!(server.is_ok());

    let error = fails(only(&["fine"]).require_endpoint("userinfo"));
    assert_eq!(
        error,
        BuildError::MissingEndpoint {
            name: "userinfo".into()
        }
    );
    assert!(error.to_string().contains("use its_crate as _;"), "{error}");

    let error =
        fails(only(&["fine"]).require_grant("urn:ietf:params:oauth:grant-type:device_code"));
    assert!(
        matches!(&error, BuildError::MissingGrant { grant_type } if grant_type.ends_with("device_code")),
        "{error}"
    );
    // What `?` in `main` prints reads as the message, not a struct dump.
    assert_eq!(format!("{error:?}"), error.to_string());
}
