//! Runnable examples of oauth-endpoints: see the `[[example]]` targets.
