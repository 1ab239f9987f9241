// A handle cannot be used after the scope that created it has ended.
#[path = "../common/mod.rs"]
mod common;

use common::{Lisp, Pair};
use mps::{Arena, Handle, PoolOptions};

fn main() {
    let arena = Arena::new().unwrap();
    let fmt = arena.format::<Lisp>().unwrap();
    let amc = arena.amc(fmt, &PoolOptions::default()).unwrap();
    arena
        .with_thread(|s| {
            let mut ap = amc.ap().unwrap();
            let mut kept: Option<Handle<'_, Lisp>> = None;
            s.scope(|inner| {
                kept = Some(inner.alloc(&mut ap, Pair::new(1)).unwrap());
            });
            kept.unwrap().with(|p: &Pair| p.id)
        })
        .unwrap();
}
