//! The signatures that go beside a backup file (`FILE.signatures`), so that a schedule carried
//! by file (a USB stick) keeps the proof of which machine made each change. The backup itself
//! stays a plain Automerge document that any Automerge tool opens.
//!
//! Format: [`MAGIC`], then records of (change hash, 32 bytes; signature, 64 bytes; machine's
//! length, 1 byte; machine, as text). A record cut short ends the list.

use automerge::ChangeHash;

use crate::signatures::{ChangeSignature, SIGNATURE_BYTES};

/// Starts a signatures file.
pub const MAGIC: &[u8; 16] = b"shiftmesh-sigs-1";
/// The name of the file beside a backup that holds its signatures.
pub const SUFFIX: &str = ".signatures";
const HASH_BYTES: usize = 32;

/// The file for `signatures`.
pub fn encode(signatures: &[ChangeSignature]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    for s in signatures {
        // Peer ids are 52 characters; a longer one is no machine's and is left out.
        let Ok(len) = u8::try_from(s.machine.len()) else {
            continue;
        };
        out.extend_from_slice(&s.change.0);
        out.extend_from_slice(&s.signature);
        out.push(len);
        out.extend_from_slice(s.machine.as_bytes());
    }
    out
}

/// The signatures a file holds, well-formed only (whether they verify is for the schedule to
/// check); none when it is not a signatures file.
pub fn decode(bytes: &[u8]) -> Vec<ChangeSignature> {
    let Some(mut records) = bytes.strip_prefix(MAGIC.as_slice()) else {
        return Vec::new();
    };
    let mut signatures = Vec::new();
    while let Some(signature) = next_record(&mut records) {
        signatures.push(signature);
    }
    signatures
}

fn next_record(records: &mut &[u8]) -> Option<ChangeSignature> {
    let (hash, rest) = records.split_at_checked(HASH_BYTES)?;
    let (signature, rest) = rest.split_at_checked(SIGNATURE_BYTES)?;
    let (len, rest) = rest.split_first()?;
    let (machine, rest) = rest.split_at_checked(usize::from(*len))?;
    *records = rest;
    Some(ChangeSignature {
        change: ChangeHash::try_from(hash).ok()?,
        machine: String::from_utf8(machine.to_vec()).ok()?,
        signature: signature.try_into().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signature(n: u8) -> ChangeSignature {
        ChangeSignature {
            change: ChangeHash([n; 32]),
            machine: format!("machine-{n}"),
            signature: [n; SIGNATURE_BYTES],
        }
    }

    #[test]
    fn signatures_read_back_as_written() {
        let signatures = vec![signature(1), signature(2)];
        assert_eq!(decode(&encode(&signatures)), signatures);
    }

    #[test]
    fn another_file_or_a_cut_record_gives_what_is_whole() {
        assert!(decode(b"an automerge document").is_empty());
        let mut bytes = encode(&[signature(1), signature(2)]);
        bytes.pop();
        assert_eq!(decode(&bytes), vec![signature(1)]);
    }
}
