//! The rotation decision, written once for every built-in store: the SQL stores
//! (`sql::rotate`) and the memory store run the same steps on what they read under their
//! grant serialization, and only carry out what this module decides.
//!
//! # The grace window (off by default)
//!
//! RFC 9700 §4.14.2 makes a rotated refresh token presented again a replay: the grant is
//! revoked. A client whose answer was lost, or two tabs refreshing at once, look exactly like
//! that. With a grace window of `g` seconds, a refresh token rotated at `t` and presented again
//! at `now < t + g` while its **successor** (the refresh token its rotation stored, or the one
//! a later grace redemption put in its place) is still unused is *redeemed*: the successor is
//! revoked and the new replacements are stored in its place, so the grant keeps exactly one
//! live refresh token. Otherwise (window passed, successor used, rotated or revoked, the grant
//! revoked) the presentation is reuse, as without a window.
//!
//! Why the successor is replaced rather than returned again: stores keep only the SHA-256 of
//! a token, never its value, so the successor's value cannot be answered a second time without
//! keeping a usable token (or a key deriving it) at rest. Replacing it keeps the rule "one
//! live refresh token per grant" with nothing more stored than a hash: the superseded
//! successor stops working, its access token keeps working until it expires.

use std::time::Duration;

use crate::clock::UnixTime;
use crate::secret::TokenHash;
use crate::store::Rotation;
use crate::token::{TokenKind, TokenRecord};

/// A grace window in whole seconds (a fraction of a second counts as a second); 0 is off.
pub(crate) fn grace_seconds(grace: Duration) -> u64 {
    grace.as_secs() + u64::from(grace.subsec_nanos() > 0)
}

/// The refresh token among `replacements`: the successor a rotation records.
pub(crate) fn successor_among(replacements: &[TokenRecord]) -> Option<&TokenHash> {
    replacements
        .iter()
        .find(|record| record.kind == TokenKind::Refresh)
        .map(|record| &record.hash)
}

/// What a rotation does once the conditional update ran (`won`: it changed the row, which it
/// does only for an active refresh token in a grant that is not revoked) and the token's row
/// was read back under the grant's serialization.
// `Done` holds a `Rotation` (two records, see there), the others one record.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum RotationStep {
    /// The update won: store the replacements, then answer [`Rotation::Rotated`].
    StoreReplacements(TokenRecord),
    /// The token was rotated within the grace window: if its successor is still unused
    /// ([`successor_unused`]), revoke the successor, record the new one, store the
    /// replacements and answer [`Rotation::Reissued`]; otherwise revoke the grant.
    ReplaceSuccessor(TokenRecord),
    /// The token was already rotated: revoke its grant, then answer [`Rotation::Reused`].
    RevokeGrant(TokenRecord),
    /// Nothing to do (unknown, not a refresh token, expired, revoked).
    Done(Rotation),
}

impl RotationStep {
    /// `grant_revoked`: a grant the rotation locked (the token's or a replacement's) is
    /// revoked; `successor`: the refresh token among the replacements.
    pub(crate) fn decide(
        won: bool,
        grant_revoked: bool,
        record: Option<TokenRecord>,
        now: UnixTime,
        grace: Duration,
        successor: Option<&TokenHash>,
    ) -> Self {
        let Some(record) = record else {
            return Self::Done(Rotation::Invalid);
        };
        if won {
            return Self::StoreReplacements(record);
        }
        let Some(rotated_at) = record
            .rotated_at
            .filter(|_| record.kind == TokenKind::Refresh)
        else {
            return Self::Done(Rotation::Invalid);
        };
        let within_window = now < rotated_at.saturating_add(grace_seconds(grace))
            && now < record.expires_at
            && record.revoked_at.is_none()
            && !grant_revoked
            && successor.is_some();
        if within_window {
            Self::ReplaceSuccessor(record)
        } else {
            Self::RevokeGrant(record)
        }
    }
}

/// Whether `successor`, the refresh token recorded as the successor of the rotated `presented`
/// token, is still unused: a refresh token of the same grant, active at `now` (never rotated,
/// not revoked, not expired).
pub(crate) fn successor_unused(
    presented: &TokenRecord,
    successor: Option<&TokenRecord>,
    now: UnixTime,
) -> bool {
    successor.is_some_and(|successor| {
        successor.kind == TokenKind::Refresh
            && successor.grant_id == presented.grant_id
            && successor.is_active(now)
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::secret::Id;

    fn refresh(rotated_at: Option<UnixTime>) -> TokenRecord {
        TokenRecord {
            id: Id::random(),
            hash: TokenHash::of("r"),
            kind: TokenKind::Refresh,
            client_id: Arc::from("c"),
            scope: "read".parse().unwrap(),
            subject: None,
            audience: Arc::from([]),
            grant_id: Id::from_bytes([1; 16]),
            issued_at: 0,
            expires_at: 1_000,
            not_before: None,
            revoked_at: None,
            rotated_at,
            confirmation: None,
            delegation: None,
        }
    }

    fn step(record: TokenRecord, now: UnixTime, grace: u64) -> RotationStep {
        let next = TokenHash::of("next");
        RotationStep::decide(
            false,
            false,
            Some(record),
            now,
            Duration::from_secs(grace),
            Some(&next),
        )
    }

    #[test]
    fn the_window_is_counted_from_the_first_rotation_and_off_at_zero() {
        assert!(matches!(
            step(refresh(Some(100)), 109, 10),
            RotationStep::ReplaceSuccessor(_)
        ));
        assert!(matches!(
            step(refresh(Some(100)), 110, 10),
            RotationStep::RevokeGrant(_)
        ));
        assert!(matches!(
            step(refresh(Some(100)), 100, 0),
            RotationStep::RevokeGrant(_)
        ));
        let mut revoked = refresh(Some(100));
        revoked.revoked_at = Some(101);
        assert!(matches!(
            step(revoked, 102, 10),
            RotationStep::RevokeGrant(_)
        ));
        assert!(matches!(
            step(refresh(None), 102, 10),
            RotationStep::Done(Rotation::Invalid)
        ));
        assert_eq!(grace_seconds(Duration::from_millis(1_500)), 2);
        assert_eq!(grace_seconds(Duration::ZERO), 0);
    }

    #[test]
    fn a_used_or_foreign_successor_is_not_unused() {
        let presented = refresh(Some(100));
        let mut successor = refresh(None);
        assert!(successor_unused(&presented, Some(&successor), 101));
        successor.rotated_at = Some(101);
        assert!(!successor_unused(&presented, Some(&successor), 102));
        let mut foreign = refresh(None);
        foreign.grant_id = Id::from_bytes([2; 16]);
        assert!(!successor_unused(&presented, Some(&foreign), 101));
        assert!(!successor_unused(&presented, None, 101));
    }
}
