// The arena cannot be dropped while a pool (or anything else borrowing it)
// is still in use.
#[path = "../common/mod.rs"]
mod common;

use common::Lisp;
use mps::{Arena, PoolOptions};

fn main() {
    let arena = Arena::new().unwrap();
    let fmt = arena.format::<Lisp>().unwrap();
    let amc = arena.amc(fmt, &PoolOptions::default()).unwrap();
    drop(arena);
    let _ap = amc.ap();
}
