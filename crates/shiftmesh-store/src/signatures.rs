//! The signatures of changes (which machine made each, proven; see the model's `signatures`
//! module): tree "signatures", change hash → the 64-byte signature followed by the signing
//! machine's peer id. Only signatures that verified are handed here, so they are read back
//! without checking again.

use automerge::ChangeHash;

use crate::{Store, StoreError};

/// The length of an ed25519 signature.
const SIGNATURE_BYTES: usize = 64;

/// One stored signature: the change, the machine that signed it, the signature.
pub type StoredSignature = (ChangeHash, String, [u8; SIGNATURE_BYTES]);

impl Store {
    /// Records signatures; they are flushed with the next change persisted.
    pub fn save_signatures(&self, signatures: &[StoredSignature]) -> Result<(), StoreError> {
        if signatures.is_empty() {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for (change, machine, signature) in signatures {
            let mut value = Vec::with_capacity(SIGNATURE_BYTES + machine.len());
            value.extend_from_slice(signature);
            value.extend_from_slice(machine.as_bytes());
            batch.insert(change.as_ref(), value);
        }
        self.signatures.apply_batch(batch)?;
        Ok(())
    }

    /// Makes the signatures recorded so far durable (a change persisted does it too).
    pub fn flush_signatures(&self) -> Result<(), StoreError> {
        self.signatures.flush()?;
        Ok(())
    }

    /// Whether a signature of `change` is recorded.
    pub fn is_signed(&self, change: &ChangeHash) -> bool {
        self.signatures
            .contains_key(change.as_ref())
            .unwrap_or(false)
    }

    /// Every signature recorded (an entry that does not read back is skipped: the change then
    /// shows as unverified, which is what it would be without it).
    pub fn signatures(&self) -> Result<Vec<StoredSignature>, StoreError> {
        let mut all = Vec::with_capacity(self.signatures.len());
        for entry in self.signatures.iter() {
            let (key, value) = entry?;
            let Ok(change) = ChangeHash::try_from(key.as_ref()) else {
                continue;
            };
            if value.len() <= SIGNATURE_BYTES {
                continue;
            }
            let (signature, machine) = value.split_at(SIGNATURE_BYTES);
            let (Ok(signature), Ok(machine)) = (
                <[u8; SIGNATURE_BYTES]>::try_from(signature),
                std::str::from_utf8(machine),
            ) else {
                continue;
            };
            all.push((change, machine.to_owned(), signature));
        }
        Ok(all)
    }
}
