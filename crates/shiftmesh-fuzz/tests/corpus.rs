//! Replays `tests/corpus/<target>/*`: inputs that are malformed, hostile, or once crashed or
//! hung something. Each must be refused cleanly (an `Err`, no panic). Then a bounded mutation
//! run over the same inputs (a fixed number per target, seeded, so a failure replays): no
//! input may panic, whatever it returns.

use std::path::PathBuf;

use shiftmesh_fuzz::TARGETS;

/// Mutants tried per corpus input.
const MUTATIONS_PER_INPUT: usize = 64;
const SEED: u64 = 0x5eed_f00d;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus")
}

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir().join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

#[test]
fn every_corpus_input_is_refused_cleanly() {
    let mut total = 0;
    for (target, run) in TARGETS {
        let inputs = inputs(target);
        assert!(!inputs.is_empty(), "tests/corpus/{target} is empty");
        for (name, bytes) in inputs {
            let result = std::panic::catch_unwind(|| run(&bytes));
            match result {
                Ok(Err(_)) => total += 1,
                Ok(Ok(())) => panic!("tests/corpus/{target}/{name} was accepted"),
                Err(_) => panic!("tests/corpus/{target}/{name} panicked"),
            }
        }
    }
    eprintln!("{total} corpus inputs refused cleanly");
}

/// A small deterministic generator, so a failing mutant can be replayed from its numbers.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Flips, overwrites, inserts, deletes or truncates a few bytes.
fn mutate(bytes: &[u8], rng: &mut XorShift) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(5) {
            0 if at < out.len() => out[at] ^= 1 << rng.below(8),
            1 if at < out.len() => out[at] = rng.next() as u8,
            2 => out.insert(at, rng.next() as u8),
            3 if at < out.len() => {
                out.remove(at);
            }
            _ => out.truncate(at),
        }
    }
    out
}

#[test]
fn mutants_of_the_corpus_never_panic() {
    let mut tried = 0;
    for (t, (target, run)) in TARGETS.iter().enumerate() {
        for (i, (name, bytes)) in inputs(target).iter().enumerate() {
            let mut rng = XorShift(SEED ^ ((t as u64) << 32) ^ i as u64 | 1);
            for m in 0..MUTATIONS_PER_INPUT {
                let mutant = mutate(bytes, &mut rng);
                let outcome = std::panic::catch_unwind(|| run(&mutant));
                assert!(
                    outcome.is_ok(),
                    "mutant {m} of tests/corpus/{target}/{name} panicked; its bytes: {mutant:02x?}"
                );
                tried += 1;
            }
        }
    }
    eprintln!("{tried} mutants, no panic");
}
