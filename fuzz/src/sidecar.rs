//! `sidecar`: the relocation sidecar's decoder and encoder.
//!
//! The first input byte picks the mode:
//!
//! - even: the rest is a byte stream for [`sidecar::decode`],
//!   [`sidecar::decode_all`], [`sidecar::count`] and [`Sidecar::from_bytes`],
//!   which must agree with one another and never panic; a stream that
//!   decodes re-encodes to the same bytes whenever the encoding is the
//!   canonical one (minimal varints, addend flag only when needed);
//! - odd: the rest is turned into a list of entries (the `arbitrary`
//!   crate), encoded, and decoded again: the result must be the entries
//!   sorted by offset, and encoding must fail exactly when two sites share
//!   bytes.

use arbitrary::{Arbitrary, Unstructured};
use codepool::reloc::RelocKind;
use codepool::sidecar::{self, Entry, Sidecar, Target};

/// An entry as the fuzzer builds it.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub struct ArbEntry {
    offset: u32,
    kind: u8,
    addend: ArbAddend,
    class: u8,
    index: u32,
}

/// Addends: mostly the usual one or small, sometimes anything.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum ArbAddend {
    /// The kind's usual addend (not stored).
    Usual,
    /// A small addend.
    Small(i8),
    /// Any 64-bit addend.
    Any(i64),
}

impl ArbEntry {
    fn entry(self) -> Entry {
        let kind = RelocKind::ALL[usize::from(self.kind) % RelocKind::ALL.len()];
        let addend = match self.addend {
            ArbAddend::Usual => kind.usual_addend(),
            ArbAddend::Small(a) => i64::from(a),
            ArbAddend::Any(a) => a,
        };
        let target = match self.class % 5 {
            0 => Target::Code(self.index),
            1 => Target::Heap(self.index),
            2 => Target::Runtime(self.index),
            3 => Target::Direct(self.index),
            _ => Target::SelfRelative(self.index),
        };
        Entry {
            offset: self.offset,
            kind,
            addend,
            target,
        }
    }
}

/// The structured half of the input: entries, and whether to pack their
/// offsets densely (so that most lists encode).
#[derive(Debug, Arbitrary)]
pub struct Entries {
    dense: bool,
    entries: Vec<ArbEntry>,
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        decode_bytes(rest);
    } else if let Ok(entries) = Entries::arbitrary_take_rest(Unstructured::new(rest)) {
        round_trip(&entries);
    }
}

fn decode_bytes(bytes: &[u8]) {
    let mut streamed = Vec::new();
    let mut error = None;
    for item in sidecar::decode(bytes) {
        match item {
            Ok(entry) => {
                assert!(error.is_none(), "the decoder went on after an error");
                streamed.push(entry);
            }
            Err(e) => {
                assert!(error.is_none(), "the decoder went on after an error");
                let _ = e.to_string();
                error = Some(e);
            }
        }
    }
    let all = sidecar::decode_all(bytes);
    let count = sidecar::count(bytes);
    let from = Sidecar::from_bytes(bytes.to_vec());
    match &error {
        Some(e) => {
            assert_eq!(all.as_ref().err(), Some(e));
            assert_eq!(count.as_ref().err(), Some(e));
            assert!(from.is_err());
        }
        None => {
            assert_eq!(all.as_ref().ok(), Some(&streamed));
            assert_eq!(count, Ok(streamed.len()));
            let from = from.expect("a stream that decodes is accepted");
            assert_eq!(from.len(), streamed.len());
            assert_eq!(
                from.iter().collect::<Result<Vec<_>, _>>().ok(),
                Some(streamed.clone())
            );
            check_decoded(&streamed);
            // Decoded entries never overlap, so they always encode, and
            // the encoding decodes to the same entries.
            let again = Sidecar::encode(&streamed).expect("decoded entries encode");
            assert_eq!(
                sidecar::decode_all(again.as_bytes()).ok(),
                Some(streamed.clone())
            );
            assert!(
                again.as_bytes().len() <= bytes.len(),
                "re-encoding grew the stream"
            );
        }
    }
}

/// Decoded entries are sorted and do not overlap.
fn check_decoded(entries: &[Entry]) {
    for pair in entries.windows(2) {
        assert!(
            pair[0].end() <= u64::from(pair[1].offset),
            "decoded sites overlap"
        );
    }
}

fn round_trip(input: &Entries) {
    let mut entries: Vec<Entry> = input.entries.iter().map(|e| e.entry()).collect();
    if input.dense {
        // Lay the sites out one after another with small gaps (the gap is
        // the low bits of the fuzzer's offset), in the fuzzer's order.
        let mut at = 0u64;
        for e in &mut entries {
            at += u64::from(e.offset % 7);
            let Ok(offset) = u32::try_from(at) else { break };
            e.offset = offset;
            at += e.kind.width() as u64;
        }
    }
    let mut sorted = entries.clone();
    sorted.sort_by_key(|e| e.offset);
    let overlaps = sorted
        .windows(2)
        .any(|p| p[0].end() > u64::from(p[1].offset));
    match Sidecar::encode(&entries) {
        Ok(encoded) => {
            assert!(!overlaps, "overlapping sites were encoded");
            assert_eq!(encoded.len(), entries.len());
            assert_eq!(encoded.is_empty(), entries.is_empty());
            let decoded = sidecar::decode_all(encoded.as_bytes())
                .unwrap_or_else(|e| panic!("an encoded sidecar does not decode: {e}"));
            // The encoder sorts by offset; no two entries share an offset
            // here, so the order is fully determined.
            assert_eq!(decoded, sorted, "round trip changed the entries");
            let again = Sidecar::from_bytes(encoded.as_bytes().to_vec()).expect("valid stream");
            assert_eq!(again, encoded);
            let stats = encoded.stats();
            assert_eq!(stats.relocs, entries.len());
            assert_eq!(stats.bytes, encoded.as_bytes().len());
        }
        Err(e) => {
            let _ = e.to_string();
            assert!(overlaps, "entries without overlap failed to encode: {e:?}");
        }
    }
}
