//! Reading the `--clients` file: a JSON array of RFC 7591 client descriptions.

use std::path::Path;

use oauth_endpoints::Client;
use oauth_endpoints::client::{ClientMetadata, SecretPolicy};
use serde_json::Value;

use crate::server::StartError;

/// Reads and checks every entry; an error names the entry (index and `client_id`) and the field.
/// Client-chosen secrets must pass `policy`.
pub fn load(path: &Path, policy: SecretPolicy) -> Result<Vec<Client>, StartError> {
    let text = std::fs::read_to_string(path).map_err(|source| StartError::ClientsFile {
        path: path.to_owned(),
        message: source.to_string(),
    })?;
    parse(&text, policy).map_err(|message| StartError::ClientsFile {
        path: path.to_owned(),
        message,
    })
}

/// Parses the file's text.
pub fn parse(text: &str, policy: SecretPolicy) -> Result<Vec<Client>, String> {
    let entries: Vec<Value> = serde_json::from_str(text)
        .map_err(|error| format!("not a JSON array of client objects: {error}"))?;
    let mut clients: Vec<Client> = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        let name = entry
            .get("client_id")
            .and_then(Value::as_str)
            .map_or_else(String::new, |id| format!(" (`{id}`)"));
        let at = |problem: String| format!("entry {index}{name}: {problem}");
        let metadata: ClientMetadata =
            serde_json::from_value(entry).map_err(|error| at(error.to_string()))?;
        let client = metadata
            .into_client_with(policy)
            .map_err(|error| at(error.to_string()))?;
        if clients.iter().any(|c| c.client_id() == client.client_id()) {
            return Err(at("`client_id`: listed twice".to_owned()));
        }
        clients.push(client);
    }
    Ok(clients)
}

#[cfg(test)]
mod tests {
    use oauth_endpoints::client::SecretPolicy;

    const S: &str = "kR8vN2qX5tLw9ZpB3mYc7HdF4jGs6Ue1";

    fn parse(text: &str) -> Result<Vec<oauth_endpoints::Client>, String> {
        super::parse(
            &text.replace("\"s\"", &format!("\"{S}\"")),
            SecretPolicy::default(),
        )
    }

    #[test]
    fn errors_name_the_entry_and_the_field() {
        let error = parse(r#"[{"client_id": "a", "client_secret": "s"}, {"client_id": "b"}]"#)
            .err()
            .unwrap_or_default();
        assert!(error.contains("entry 1 (`b`)"), "{error}");
        assert!(error.contains("client_secret"), "{error}");

        let error = parse(r#"[{"client_id": "a", "client_secret": "s", "scope": "a\"b"}]"#)
            .err()
            .unwrap_or_default();
        assert!(error.contains("entry 0 (`a`)"), "{error}");

        let error = parse(r#"[{"client_id": "a", "token_endpoint_auth_method": "magic"}]"#)
            .err()
            .unwrap_or_default();
        assert!(error.contains("magic"), "{error}");

        let error = parse(r#"[{"client_id": "a", "client_secret": "s", "colour": 1}]"#)
            .err()
            .unwrap_or_default();
        assert!(error.contains("colour"), "{error}");

        let error = parse(r#"[{"client_id": "a", "client_secret": "short"}]"#)
            .err()
            .unwrap_or_default();
        assert!(error.contains("too short"), "{error}");

        let error = parse(
            r#"[{"client_id": "spa", "token_endpoint_auth_method": "none",
                 "scope": "introspection read"}]"#,
        )
        .err()
        .unwrap_or_default();
        assert!(error.contains("introspection"), "{error}");
    }

    #[test]
    fn a_valid_file_loads() {
        let clients = parse(
            r#"[{"client_id": "a", "client_secret": "s", "grant_types": ["client_credentials"]},
                {"client_id": "spa", "token_endpoint_auth_method": "none"}]"#,
        )
        .unwrap_or_default();
        assert_eq!(clients.len(), 2);
        assert!(clients[1].is_public());
    }
}
