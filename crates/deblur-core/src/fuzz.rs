//! Byte-level mutation for fuzz tests of file loaders: seeded random edits of a valid file
//! (bit flips, boundary values, truncation, inserted and deleted runs, duplicated chunks,
//! extreme 4-byte fields). Deterministic per RNG seed, no dependencies beyond `rand`.

use rand::Rng;
use rand::rngs::StdRng;

/// Applies one random edit to `bytes`.
pub fn mutate(bytes: &mut Vec<u8>, rng: &mut StdRng) {
    if bytes.is_empty() {
        bytes.push(rng.random());
        return;
    }
    let at = rng.random_range(0..bytes.len());
    match rng.random_range(0..7) {
        0 => bytes[at] ^= 1 << rng.random_range(0..8),
        1 => bytes[at] = [0u8, 1, 0x7f, 0x80, 0xff][rng.random_range(0..5)],
        2 => bytes.truncate(at),
        3 => {
            let run: Vec<u8> = (0..rng.random_range(1..64)).map(|_| rng.random()).collect();
            bytes.splice(at..at, run);
        }
        4 => {
            let end = (at + rng.random_range(1..64)).min(bytes.len());
            bytes.drain(at..end);
        }
        5 => {
            let end = (at + rng.random_range(1..256)).min(bytes.len());
            let chunk = bytes[at..end].to_vec();
            let to = rng.random_range(0..bytes.len());
            bytes.splice(to..to, chunk);
        }
        _ => {
            // a 4-byte field (lengths, sizes, shapes) set to an extreme value
            let value: u32 = [0, 1, 0x7fff_ffff, 0xffff_ffff, 1 << 20][rng.random_range(0..5)];
            for (i, b) in value.to_le_bytes().iter().enumerate() {
                if at + i < bytes.len() {
                    bytes[at + i] = *b;
                }
            }
        }
    }
}
