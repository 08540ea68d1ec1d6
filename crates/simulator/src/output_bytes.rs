//! The content of simulated output files: deterministic bytes a test can recompute.
//!
//! A file's bytes come from a counter-based generator seeded by a key (the task id for a
//! task's output, `{id}/{n}` for its n-th preview image): byte `p` is byte `p % 8`
//! (little-endian) of `splitmix64(seed + (p / 8 + 1) * 0x9E37_79B9_7F4A_7C15)`, where the
//! seed is the 64-bit FNV-1a hash of the key. Any range can be computed without the bytes
//! before it, so a file is served (and checked) chunk by chunk, whatever its size.

/// The size of every preview image (`/_sim/out/{id}/{n}.jpg`), whatever the script says.
pub const PREVIEW_BYTES: u64 = 16 * 1024;

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The first `len` bytes of the output file of the task `task_id` (the file its succeeded
/// poll answers name; its length is the script's `output_bytes`).
pub fn output_bytes(task_id: &str, len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    fill_output_bytes(task_id, 0, &mut bytes);
    bytes
}

/// Fills `buf` with the output bytes of the task `task_id` from `offset` on: the same bytes
/// as `output_bytes(task_id, offset + buf.len())[offset..]`, without building the prefix.
/// For checking large files a chunk at a time.
pub fn fill_output_bytes(task_id: &str, offset: u64, buf: &mut [u8]) {
    fill(seed(task_id), offset, buf);
}

/// The bytes of the `n`-th (from 1) preview image of the task `task_id`
/// ([`PREVIEW_BYTES`] long).
pub fn preview_bytes(task_id: &str, n: u32) -> Vec<u8> {
    let mut bytes = vec![0; usize::try_from(PREVIEW_BYTES).unwrap_or(0)];
    fill(preview_seed(task_id, n), 0, &mut bytes);
    bytes
}

/// The seed of a task's output file.
pub(crate) fn seed(task_id: &str) -> u64 {
    fnv1a(task_id.as_bytes())
}

/// The seed of a task's `n`-th preview image.
pub(crate) fn preview_seed(task_id: &str, n: u32) -> u64 {
    fnv1a(format!("{task_id}/{n}").as_bytes())
}

/// Writes the bytes of the file seeded by `seed` at `offset..offset + buf.len()`.
pub(crate) fn fill(seed: u64, offset: u64, buf: &mut [u8]) {
    let mut pos = offset;
    let mut rest = buf;
    while !rest.is_empty() {
        let block = mix(seed.wrapping_add((pos / 8).wrapping_add(1).wrapping_mul(GOLDEN)));
        let block = block.to_le_bytes();
        let skip = usize::try_from(pos % 8).unwrap_or(0);
        let from = block.get(skip..).unwrap_or_default();
        let take = from.len().min(rest.len());
        let (head, tail) = rest.split_at_mut(take);
        head.copy_from_slice(from.get(..take).unwrap_or_default());
        rest = tail;
        pos = pos.wrapping_add(take as u64);
    }
}

/// splitmix64's output function.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn any_range_equals_the_same_slice_of_the_whole() {
        let whole = output_bytes("task-1", 1000);
        for (offset, len) in [(0, 1000), (1, 7), (7, 9), (8, 8), (13, 500), (999, 1)] {
            let mut part = vec![0; len];
            fill_output_bytes("task-1", offset as u64, &mut part);
            assert_eq!(part, whole[offset..offset + len], "{offset}+{len}");
        }
    }

    #[test]
    fn files_differ_by_key_and_do_not_repeat_soon() {
        let a = output_bytes("task-1", 4096);
        assert_ne!(a, output_bytes("task-2", 4096));
        assert_ne!(preview_bytes("task-1", 1), preview_bytes("task-1", 2));
        assert_ne!(a[..2048], a[2048..]);
        assert_eq!(preview_bytes("t", 1).len() as u64, PREVIEW_BYTES);
    }

    #[test]
    fn first_bytes_are_stable() {
        // Tests elsewhere may pin digests: the generator must not change silently.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        let first = u64::from_le_bytes(output_bytes("", 8).try_into().unwrap());
        assert_eq!(first, mix(0xcbf2_9ce4_8422_2325_u64.wrapping_add(GOLDEN)));
    }
}
