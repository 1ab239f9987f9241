//! `reloc`: one relocation applied to a buffer.
//!
//! A structured input (kind, offset, site and target addresses, addend,
//! buffer) goes through [`reloc::apply`], checked against a model written
//! here with 128-bit arithmetic: `apply` never panics, fails exactly when
//! the field is out of bounds or the value does not fit (a displacement out
//! of reach is an error, never a truncation), writes nothing on failure and
//! nothing outside `offset..offset + width` on success, and
//! [`reloc::read_field`] reads back the exact value. The GOT instruction
//! rewrites ([`reloc::got_form`], [`reloc::set_got_form`]) and
//! [`reloc::write_u64`] get the same treatment.

use arbitrary::{Arbitrary, Unstructured};
use codepool::reloc::{self, GotForm, RelocError, RelocKind};

/// Addresses: often near one another (so that 32-bit displacements
/// sometimes fit and sometimes do not), sometimes anything.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Addr {
    /// Any 64-bit address.
    Any(u64),
    /// `base + delta` (wrapping): near the other address.
    Near(i32),
    /// Just below or above the 2 GiB / 4 GiB boundaries of the fields.
    Edge(u8, i8),
}

/// One input.
#[derive(Debug, Arbitrary)]
pub struct Input {
    kind: u8,
    offset: u16,
    far_offset: Option<usize>,
    site: u64,
    target: Addr,
    addend: Addr,
    buffer: Vec<u8>,
    relax: Option<bool>,
    word: u64,
}

const EDGES: [i128; 8] = [
    0,
    1 << 31,
    -(1 << 31),
    1 << 32,
    -(1 << 32),
    1 << 63,
    -(1 << 63),
    1 << 64,
];

fn edge(site: u64, which: u8, delta: i8) -> i128 {
    i128::from(site) + EDGES[usize::from(which) % EDGES.len()] + i128::from(delta)
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    check(&input);
}

fn check(input: &Input) {
    let kind = RelocKind::ALL[usize::from(input.kind) % RelocKind::ALL.len()];
    let width = kind.width();
    let offset = input.far_offset.unwrap_or(usize::from(input.offset));
    let site = input.site;
    let target = match input.target {
        Addr::Any(a) => a,
        Addr::Near(d) => site.wrapping_add_signed(i64::from(d)),
        Addr::Edge(w, d) => edge(site, w, d) as u64,
    };
    let addend = match input.addend {
        Addr::Any(a) => a as i64,
        Addr::Near(d) => i64::from(d),
        Addr::Edge(w, d) => (EDGES[usize::from(w) % EDGES.len()] + i128::from(d)) as i64,
    };

    // The model.
    let value = if kind.is_pc_relative() {
        i128::from(target) + i128::from(addend) - i128::from(site)
    } else {
        i128::from(target) + i128::from(addend)
    };
    let fits = match kind {
        RelocKind::Abs64 | RelocKind::Pc64 => {
            value >= i128::from(i64::MIN) && value <= i128::from(u64::MAX)
        }
        RelocKind::Abs32 => value >= 0 && value <= i128::from(u32::MAX),
        _ => value >= i128::from(i32::MIN) && value <= i128::from(i32::MAX),
    };
    let in_bounds = offset
        .checked_add(width)
        .is_some_and(|end| end <= input.buffer.len());

    assert_eq!(
        reloc::fits(kind, site, target, addend),
        fits,
        "fits disagrees with the model"
    );
    match reloc::compute(kind, site, target, addend) {
        Ok(bits) => {
            assert!(fits);
            let mask = if width == 8 {
                u64::MAX
            } else {
                u64::from(u32::MAX)
            };
            assert_eq!(bits & !mask, 0, "compute set bits beyond the field");
            assert_eq!(bits, (value as u64) & mask, "compute gave the wrong bits");
        }
        Err(e) => {
            assert!(!fits, "compute failed on a value that fits");
            assert!(matches!(e, RelocError::Overflow { .. }), "compute: {e:?}");
            let _ = e.to_string();
        }
    }

    let mut buffer = input.buffer.clone();
    let result = reloc::apply(&mut buffer, offset, kind, site, target, addend);
    match result {
        Ok(()) => {
            assert!(
                fits && in_bounds,
                "apply succeeded out of bounds or out of range"
            );
            assert_eq!(
                buffer[..offset],
                input.buffer[..offset],
                "apply wrote before the field"
            );
            assert_eq!(
                buffer[offset + width..],
                input.buffer[offset + width..],
                "apply wrote after the field"
            );
            let back = reloc::read_field(&buffer, offset, kind).expect("field in bounds");
            let expected = match kind {
                // 64-bit fields hold the value's 64 bits.
                RelocKind::Abs64 | RelocKind::Pc64 => value as u64 as i64,
                _ => value as i64,
            };
            assert_eq!(
                back, expected,
                "read_field does not give back the value applied"
            );
        }
        Err(e) => {
            let _ = e.to_string();
            assert_eq!(buffer, input.buffer, "a failed apply changed the buffer");
            match e {
                RelocError::OutOfBounds { .. } => assert!(!in_bounds),
                RelocError::Overflow { .. } => assert!(in_bounds && !fits),
                _ => panic!("unexpected error {e:?}"),
            }
            assert!(
                !(fits && in_bounds),
                "apply failed on a valid relocation: {e:?}"
            );
        }
    }
    assert_eq!(
        reloc::check_bounds(kind, offset, input.buffer.len()).is_ok(),
        in_bounds
    );

    // GOT instruction forms.
    let form = reloc::got_form(&input.buffer, offset);
    if let Some(relaxed) = input.relax {
        let mut buffer = input.buffer.clone();
        let switched = reloc::set_got_form(&mut buffer, offset, relaxed);
        assert_eq!(switched, form != GotForm::Other);
        if switched {
            // Only the two bytes before the displacement change.
            for (i, (&new, &old)) in buffer.iter().zip(&input.buffer).enumerate() {
                if i + 2 != offset && i + 1 != offset {
                    assert_eq!(new, old, "set_got_form wrote byte {i}, site at {offset}");
                }
            }
            let now = reloc::got_form(&buffer, offset);
            assert_eq!(now.is_relaxed(), relaxed);
            // Switching back restores the instruction (the ModRM of a mov
            // or lea is kept; a call's bytes are fixed).
            assert!(reloc::set_got_form(&mut buffer, offset, form.is_relaxed()));
            assert_eq!(reloc::got_form(&buffer, offset), form);
            if matches!(form, GotForm::MovLoad | GotForm::Lea) {
                assert_eq!(buffer, input.buffer);
            }
        } else {
            assert_eq!(
                buffer, input.buffer,
                "set_got_form changed an unknown instruction"
            );
        }
    }

    // write_u64.
    let mut buffer = input.buffer.clone();
    let written = reloc::write_u64(&mut buffer, offset, input.word);
    assert_eq!(
        written,
        offset.checked_add(8).is_some_and(|e| e <= buffer.len())
    );
    if written {
        assert_eq!(buffer[offset..offset + 8], input.word.to_le_bytes());
        assert_eq!(buffer[..offset], input.buffer[..offset]);
        assert_eq!(buffer[offset + 8..], input.buffer[offset + 8..]);
    } else {
        assert_eq!(buffer, input.buffer);
    }
}
