// Handles belong to their thread: they are not `Send`.
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
            std::thread::scope(|ts| {
                ts.spawn(move || h.with(|p: &Pair| p.id));
            });
        })
        .unwrap();
}
