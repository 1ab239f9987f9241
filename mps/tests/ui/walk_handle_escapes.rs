// A heap walk lends each object's handle for one call of the closure (the
// object is kept alive only until the walk returns): it cannot be kept.
#[path = "../common/mod.rs"]
mod common;

use common::{Lisp, Pair};
use mps::{Arena, Handle, PoolOptions};

fn main() {
    let arena = Arena::new().unwrap();
    let fmt = arena.format::<Lisp>().unwrap();
    let ams = arena.ams(fmt, &PoolOptions::default()).unwrap();
    arena
        .with_thread(|s| {
            let mut ap = ams.ap().unwrap();
            s.alloc(&mut ap, Pair::new(1)).unwrap();
            let mut kept: Option<Handle<'_, Lisp>> = None;
            ams.walk(s, |_, h| kept = Some(h)).unwrap();
            kept.unwrap().with(|p: &Pair| p.id)
        })
        .unwrap();
}
