//! The introspection answer's members (RFC 7662 §2.2).

use serde::{Serialize, Serializer};
use serde_json::Value;

use super::signed::Format;
use crate::client::Client;
use crate::clock::UnixTime;
use crate::context::Context;
use crate::endpoint::EndpointResult;
use crate::secret::Id;
use crate::token::{Actor, Confirmation, TokenRecord};

/// The active answer (RFC 7662 §2.2), with no `null` member, in `format`.
///
/// Serialized straight from [`Active`]; only when claims hooks are registered is it built as a
/// JSON map they can add to. Both give the same bytes for the same members.
pub(super) fn active_answer(
    cx: &Context,
    caller: &Client,
    record: &TokenRecord,
    format: Format<'_>,
) -> EndpointResult {
    let active = Active {
        act: record.act(),
        active: true,
        aud: Audience(&record.audience),
        client_id: &record.client_id,
        cnf: record.confirmation.map(|jkt| Confirmation { jkt }),
        exp: record.expires_at,
        iat: record.issued_at,
        iss: cx.config().issuer.as_deref(),
        jti: Jti(record.id),
        may_act: record.may_act(),
        nbf: record.not_before,
        scope: record.scope.as_str(),
        sub: record.subject.as_deref(),
        token_type: record.token_type(),
    };
    if cx.hooks().has_claims() {
        match serde_json::to_value(&active) {
            Ok(Value::Object(mut claims)) => {
                cx.hooks().add_claims(record, caller, &mut claims);
                return format.answer(cx, caller, &claims);
            }
            Ok(_) => {}
            Err(_) => return format.inactive(cx, caller),
        }
    }
    format.answer(cx, caller, &active)
}

/// The members of an active answer, in name order (the order a `serde_json::Map` renders).
#[derive(Serialize)]
struct Active<'a> {
    /// The acting party and its chain (RFC 8693 §4.1), for a token obtained by delegation.
    #[serde(skip_serializing_if = "Option::is_none")]
    act: Option<&'a Actor>,
    active: bool,
    #[serde(skip_serializing_if = "Audience::is_empty")]
    aud: Audience<'a>,
    client_id: &'a str,
    /// The key a bound token is bound to, `{"jkt": ...}` (RFC 9449 §6.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Confirmation>,
    exp: UnixTime,
    iat: UnixTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    jti: Jti,
    /// The party allowed to act for the subject (RFC 8693 §4.4).
    #[serde(skip_serializing_if = "Option::is_none")]
    may_act: Option<&'a Actor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nbf: Option<UnixTime>,
    #[serde(skip_serializing_if = "str::is_empty")]
    scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
    token_type: &'static str,
}

/// `aud`: one audience as a string, several as an array (RFC 7662 §2.2).
struct Audience<'a>(&'a [String]);

impl Audience<'_> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Audience<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            [one] => serializer.serialize_str(one),
            many => many.serialize(serializer),
        }
    }
}

/// `jti`: the record's id, rendered on the stack.
struct Jti(Id);

impl Serialize for Jti {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.encode(&mut [0u8; 22]))
    }
}
