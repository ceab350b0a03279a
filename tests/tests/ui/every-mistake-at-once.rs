use oauth_endpoints::oauth_endpoint;

// Malformed arguments do not hide the checks of the valid ones, nor the check of the item.
#[oauth_endpoint(name = "", colour = "red", path = "oauth/revoke", methods = POST, path = "/revoke", "positional")]
pub enum Revocation {
    Enabled,
}

fn main() {
    let _ = Revocation::Enabled;
}
