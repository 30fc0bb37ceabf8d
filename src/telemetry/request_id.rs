//! Request ids: random (version 4) UUIDs, like Bedrock's `x-amzn-RequestId`, made without a system call.
//!
//! `Uuid::new_v4` asks the OS for 16 random bytes on every request (one `getrandom` call each). The ids
//! only need to be unique, not secret, so each thread seeds a SplitMix64 sequence once from the OS and
//! draws from it: SplitMix64 visits every 64-bit value once per period, so a thread never repeats an
//! id, and two threads collide only if their random 64-bit seeds nearly coincide.

use std::cell::Cell;

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    // Without an OS source, fall back to the clock and the thread's stack address: still distinct
    // per thread and per run, which is all an id needs.
    getrandom::u64().unwrap_or_else(|_| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let local = 0u8;
        nanos ^ (std::ptr::addr_of!(local) as usize as u64).rotate_left(32)
    })
}

/// SplitMix64 (Steele, Lea, Flood 2014): a bijective mix of a counter that advances by a constant.
fn next(state: &Cell<u64>) -> u64 {
    let s = state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
    state.set(s);
    let mut z = s;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A new request id, `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`.
pub fn new_request_id() -> String {
    let (high, low) = STATE.with(|state| (next(state), next(state)));
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&high.to_le_bytes());
    bytes[8..].copy_from_slice(&low.to_le_bytes());
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_v4_uuids_and_unique() {
        let ids: Vec<String> = (0..10_000).map(|_| new_request_id()).collect();
        for id in &ids {
            let uuid = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(uuid.get_version_num(), 4, "{id}");
            assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122, "{id}");
            assert_eq!(id.len(), 36);
        }
        let distinct: HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
    }

    #[test]
    fn threads_draw_different_sequences() {
        let other = std::thread::spawn(|| (0..100).map(|_| new_request_id()).collect::<Vec<_>>())
            .join()
            .unwrap();
        let here: HashSet<String> = (0..100).map(|_| new_request_id()).collect();
        assert!(other.iter().all(|id| !here.contains(id)));
    }
}
