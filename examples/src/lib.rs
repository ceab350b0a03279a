//! Runnable examples of oauth-endpoints (see the `[[example]]` targets), and the server that
//! `cargo run --example server` runs, as a library so tests can start it in-process.

pub mod server;
