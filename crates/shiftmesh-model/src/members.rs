//! The site's members: the machines trusted with the schedule. Adding and revoking a member
//! are ordinary changes of the document, so they sync, show in `history` with their author,
//! and every node enforces the same list.

use crate::entity::{Collection, Member};
use crate::{Edit, Index, ModelError, Result, Schedule, Written};

impl Index {
    /// Whether `peer` is a member that has not been revoked.
    pub fn is_trusted(&self, peer: &str) -> bool {
        self.members.get(peer).is_some_and(Member::is_trusted)
    }

    /// Whether `peer` was a member and has been revoked.
    pub fn is_revoked(&self, peer: &str) -> bool {
        self.members.get(peer).is_some_and(|m| m.revoked)
    }
}

impl Schedule {
    /// Makes `peer` a member (or trusts a revoked member again). `how` says why, for the
    /// change's message ("by invite", "by hand").
    pub fn trust_member(
        &mut self,
        edit: &Edit,
        peer: &str,
        name: &str,
        how: &str,
    ) -> Result<Written> {
        let member = Member {
            peer: peer.to_owned(),
            name: name.to_owned(),
            added_by: edit.author.clone(),
            added_at_ms: edit.now_ms,
            revoked: false,
            revoked_by: String::new(),
            revoked_at_ms: 0,
        };
        member.check()?;
        let message = format!("trust machine '{name}' ({peer}) {how}");
        match self.index().members.get(peer) {
            None => self.add(edit, &member, message),
            Some(existing) if existing.revoked => self.update(
                edit,
                &member,
                &[
                    "name",
                    "added_by",
                    "added_at",
                    "revoked",
                    "revoked_by",
                    "revoked_at",
                ],
                message,
            ),
            Some(_) => Err(ModelError::AlreadyExists {
                kind: Collection::Members.noun(),
                id: peer.to_owned(),
            }),
        }
    }

    /// Marks the member `peer` revoked: from then on no node gives it the schedule or takes
    /// anything from it.
    pub fn revoke_member(&mut self, edit: &Edit, peer: &str) -> Result<Written> {
        let Some(existing) = self.index().members.get(peer).cloned() else {
            return Err(ModelError::NotFound {
                kind: Collection::Members.noun(),
                id: peer.to_owned(),
            });
        };
        if existing.revoked {
            return Err(ModelError::Refused(format!(
                "machine '{}' ({peer}) is already revoked",
                existing.name
            )));
        }
        let revoked = Member {
            revoked: true,
            revoked_by: edit.author.clone(),
            revoked_at_ms: edit.now_ms,
            ..existing
        };
        let message = format!("revoke machine '{}' ({peer})", revoked.name);
        self.update(
            edit,
            &revoked,
            &["revoked", "revoked_by", "revoked_at"],
            message,
        )
    }
}
