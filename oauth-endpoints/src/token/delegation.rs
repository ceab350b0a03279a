//! [`Delegation`]: who acts for a token's subject (`act`, RFC 8693 §4.1) and who may
//! (`may_act`, RFC 8693 §4.4).

use serde::{Deserialize, Serialize};

/// A party named by an `act` or `may_act` claim (RFC 8693 §4.1, §4.4): its `sub`, the `iss`
/// that `sub` is relative to when it is not this server, and, in an `act` claim, the party that
/// acted before it (`act`, nested: a delegation chain, most recent actor outermost).
///
/// ```
/// use oauth_endpoints::token::Actor;
///
/// let first = Actor::new("svc-a");
/// let chain = Actor::new("svc-b").acting_after(first);
/// assert_eq!(chain.depth(), 2);
/// assert_eq!(
///     serde_json::to_string(&chain).unwrap(),
///     r#"{"sub":"svc-b","act":{"sub":"svc-a"}}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    /// The party's subject identifier.
    pub sub: String,
    /// The issuer `sub` is relative to, when another than this server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The party that acted before this one (RFC 8693 §4.1: "prior actors").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Actor>>,
}

impl Actor {
    /// The longest delegation chain kept: an exchange that would make a longer one is refused
    /// (`invalid_request`), so a token's record and claims stay bounded.
    pub const MAX_DEPTH: usize = 8;

    /// The party `sub` of this server, with no prior actor.
    pub fn new(sub: impl Into<String>) -> Self {
        Self {
            sub: sub.into(),
            iss: None,
            act: None,
        }
    }

    /// The same party, its `sub` relative to `iss`.
    #[must_use]
    pub fn issued_by(mut self, iss: impl Into<String>) -> Self {
        self.iss = Some(iss.into());
        self
    }

    /// This party acting after `prior` (its `act` becomes `prior`, with `prior`'s chain).
    #[must_use]
    pub fn acting_after(mut self, prior: Actor) -> Self {
        self.act = Some(Box::new(prior));
        self
    }

    /// How many parties the chain names: 1 for an actor with no prior one.
    pub fn depth(&self) -> usize {
        let mut depth = 1;
        let mut current = self;
        while let Some(prior) = &current.act {
            depth += 1;
            current = prior;
        }
        depth
    }

    /// Whether this party is `other`, by `sub` and `iss` (a missing `iss` on one side matches
    /// only a missing one on the other); prior actors are not compared. RFC 8693 §4.4 has the
    /// two identify the same party by these claims.
    pub fn is_party(&self, other: &Actor) -> bool {
        self.sub == other.sub && self.iss == other.iss
    }
}

/// What a token records of delegation: the acting party (`act`, RFC 8693 §4.1) when the token
/// was obtained by one party for another, and the party allowed to act for the token's subject
/// (`may_act`, §4.4). A plain token has none ([`TokenRecord::delegation`](
/// crate::token::TokenRecord::delegation) `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Delegation {
    /// The current actor and its chain of prior actors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
    /// The party allowed to act for the subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub may_act: Option<Actor>,
    /// Whether the token was obtained by a token exchange (RFC 8693): it joined the grant of
    /// the token it was exchanged for, which is another client's session, so revoking it never
    /// revokes that grant (see the revocation endpoint). Not published in answers.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exchanged: bool,
}

impl Delegation {
    /// Whether it records nothing.
    pub fn is_empty(&self) -> bool {
        self.act.is_none() && self.may_act.is_none() && !self.exchanged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_serialize_most_recent_actor_outermost() {
        let chain = Actor::new("svc-c")
            .acting_after(Actor::new("svc-b").acting_after(Actor::new("svc-a").issued_by("x")));
        assert_eq!(chain.depth(), 3);
        let json = serde_json::to_value(&chain).unwrap();
        assert_eq!(json["act"]["act"]["iss"], "x");
        let back: Actor = serde_json::from_value(json).unwrap();
        assert_eq!(back, chain);
    }

    #[test]
    fn parties_compare_by_sub_and_issuer() {
        let a = Actor::new("svc").issued_by("https://idp");
        assert!(
            a.is_party(
                &Actor::new("svc")
                    .issued_by("https://idp")
                    .acting_after(Actor::new("z"))
            )
        );
        assert!(!a.is_party(&Actor::new("svc")));
        assert!(!a.is_party(&Actor::new("other").issued_by("https://idp")));
    }

    #[test]
    fn empty_delegation_serializes_to_an_empty_object() {
        assert!(Delegation::default().is_empty());
        assert_eq!(serde_json::to_string(&Delegation::default()).unwrap(), "{}");
    }
}
