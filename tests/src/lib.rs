//! Integration tests of oauth-endpoints; the tests live in `tests/`.
