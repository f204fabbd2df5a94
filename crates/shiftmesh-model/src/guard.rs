//! Automerge on untrusted input. Automerge has panicked on some malformed documents and sync
//! messages (our fuzzing found a division by zero in a peer's bloom filter, and a document that
//! panics in `load`); such a panic must refuse the input, not take down the process.
//! [`guard_panics`] catches it, and while a guarded call runs, [`in_guarded_call`] lets a
//! program's panic hook stay quiet about a panic that is expected and handled.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};

thread_local! {
    static GUARDED: Cell<u32> = const { Cell::new(0) };
}

/// The magic bytes that open every Automerge chunk.
const CHUNK_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// The chunk types shiftmesh writes and reads: a document, a change, a compressed change.
/// Automerge 0.12 also reads "bundle" chunks (type 3), and a 212-byte bundle found by fuzzing
/// makes its loader allocate gigabytes; shiftmesh never writes one, so none is accepted.
const ACCEPTED_CHUNK_TYPES: [u8; 3] = [0, 1, 2];

/// Where a chunk says what it holds: after the magic and the 4-byte checksum.
const CHUNK_TYPE_AT: usize = 8;
/// The chunk type of a whole document (as `save()` writes it).
const DOCUMENT_CHUNK: u8 = 0;

/// Walks the chunks of bytes meant for `AutoCommit::load` and refuses any chunk type
/// shiftmesh does not write, before Automerge parses anything.
pub fn check_chunks(bytes: &[u8]) -> Result<(), String> {
    chunk_types(bytes).map(|_| ())
}

/// Whether `bytes` are exactly one whole-document chunk (what a peer's `save()` sends).
pub fn is_whole_document(bytes: &[u8]) -> bool {
    chunk_types(bytes).is_ok_and(|types| types == [DOCUMENT_CHUNK])
}

/// The type of each chunk of `bytes`, in order; an error for bytes that are not chunks, or
/// hold a type shiftmesh does not write.
fn chunk_types(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut types = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.len() <= CHUNK_TYPE_AT || rest[..4] != CHUNK_MAGIC {
            return Err("it is not made of Automerge chunks".into());
        }
        let kind = rest[CHUNK_TYPE_AT];
        if !ACCEPTED_CHUNK_TYPES.contains(&kind) {
            return Err(format!(
                "it holds an Automerge chunk of type {kind}, which shiftmesh does not read"
            ));
        }
        let header = CHUNK_TYPE_AT + 1;
        let (length, used) = read_uleb(&rest[header..]).ok_or("a chunk's length is unreadable")?;
        let end = header
            .checked_add(used)
            .and_then(|n| n.checked_add(usize::try_from(length).ok()?))
            .filter(|end| *end <= rest.len())
            .ok_or("a chunk is longer than the bytes that hold it")?;
        types.push(kind);
        rest = &rest[end..];
    }
    Ok(types)
}

/// An unsigned LEB128 number and the bytes it took; None if it runs off the end or past 64 bits.
fn read_uleb(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f).checked_shl(7 * i as u32)?;
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Runs `f`, turning a panic into None.
pub fn guard_panics<T>(f: impl FnOnce() -> T) -> Option<T> {
    GUARDED.with(|g| g.set(g.get() + 1));
    let result = catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(g.get() - 1));
    result.ok()
}

/// Whether this thread is inside [`guard_panics`] (for a panic hook: the panic will be caught
/// and reported as a refusal of the input).
pub fn in_guarded_call() -> bool {
    GUARDED.with(|g| g.get() > 0)
}

/// Installs a panic hook that says nothing about panics inside [`guard_panics`] and defers to
/// the previous hook for every other.
pub fn quiet_guarded_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !in_guarded_call() {
            previous(info);
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_chunk_types_shiftmesh_writes_pass() {
        let mut doc = automerge::AutoCommit::new();
        assert_eq!(check_chunks(&doc.save()), Ok(()));
        let mut bundle = doc.save();
        bundle[8] = 3;
        assert!(check_chunks(&bundle).unwrap_err().contains("type 3"));
        assert!(check_chunks(b"garbage").is_err());
        let saved = doc.save();
        assert!(check_chunks(&saved[..saved.len() - 1]).is_err());
    }

    #[test]
    fn a_whole_document_is_one_document_chunk_and_nothing_else() {
        use automerge::transaction::Transactable;
        let mut doc = automerge::AutoCommit::new();
        doc.put(automerge::ROOT, "a", 1).unwrap();
        let saved = doc.save();
        assert!(is_whole_document(&saved));
        let before = doc.get_heads();
        doc.put(automerge::ROOT, "b", 2).unwrap();
        let change = doc.save_after(&before);
        assert!(!is_whole_document(&change), "a change chunk");
        assert!(
            !is_whole_document(&[saved.clone(), change].concat()),
            "more than one chunk"
        );
        assert!(!is_whole_document(&saved[..saved.len() - 1]));
        assert!(!is_whole_document(b""));
    }

    #[test]
    fn a_guarded_panic_becomes_none_and_the_guard_is_left() {
        assert_eq!(guard_panics(|| 7), Some(7));
        let caught: Option<()> = guard_panics(|| panic!("malformed"));
        assert_eq!(caught, None);
        assert!(!in_guarded_call());
    }
}
