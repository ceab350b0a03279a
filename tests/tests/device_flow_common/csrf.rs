//! Reading the verification page's hidden CSRF field, as a browser submits it.
//!
//! Included as `mod csrf;` (see `fixture.rs`).

/// The value of the hidden CSRF field of a page.
pub(crate) fn hidden_csrf(page: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).expect("a CSRF field") + marker.len();
    let end = page[start..].find('"').unwrap() + start;
    page[start..end].to_owned()
}
