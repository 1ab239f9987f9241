// An LO (leaf object) pool is never scanned, so it only takes `Leaf`
// objects: a pair, which holds references, does not compile.
#[path = "../common/mod.rs"]
mod common;

use common::{Lisp, Pair};
use mps::{Arena, PoolOptions};

fn main() {
    let arena = Arena::new().unwrap();
    let fmt = arena.format::<Lisp>().unwrap();
    let lo = arena.lo(fmt, &PoolOptions::default()).unwrap();
    arena
        .with_thread(|s| {
            let mut ap = lo.ap().unwrap();
            s.alloc(&mut ap, Pair::new(1)).unwrap();
        })
        .unwrap();
}
