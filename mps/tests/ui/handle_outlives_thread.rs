// A handle cannot leave `with_thread`: the thread's handle table (and its
// registration) ends there.
#[path = "../common/mod.rs"]
mod common;

use common::{Lisp, Pair};
use mps::{Arena, PoolOptions};

fn main() {
    let arena = Arena::new().unwrap();
    let fmt = arena.format::<Lisp>().unwrap();
    let amc = arena.amc(fmt, &PoolOptions::default()).unwrap();
    let handle = arena
        .with_thread(|s| {
            let mut ap = amc.ap().unwrap();
            s.alloc(&mut ap, Pair::new(1)).unwrap()
        })
        .unwrap();
    handle.with(|p: &Pair| p.id);
}
