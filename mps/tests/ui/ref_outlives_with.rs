// The `&T` lent by `Handle::with` cannot be kept past the closure, for
// example across an allocation (which may move the object).
#[path = "../common/mod.rs"]
mod common;

use common::{Lisp, Pair};
use mps::{Arena, PoolOptions};

fn main() {
    let arena = Arena::new().unwrap();
    let fmt = arena.format::<Lisp>().unwrap();
    let amc = arena.amc(fmt, &PoolOptions::default()).unwrap();
    arena
        .with_thread(|s| {
            let mut ap = amc.ap().unwrap();
            let h = s.alloc(&mut ap, Pair::new(1)).unwrap();
            let pair: &Pair = h.with(|p: &Pair| p);
            s.alloc(&mut ap, Pair::new(2)).unwrap();
            pair.id
        })
        .unwrap();
}
