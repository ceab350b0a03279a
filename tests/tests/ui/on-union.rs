use oauth_endpoints::oauth_endpoint;

#[oauth_endpoint(name = "revocation", path = "/oauth/revoke")]
pub union Revocation {
    pub code: u32,
    pub flags: f32,
}

fn main() {
    let _ = Revocation { code: 0 };
}
