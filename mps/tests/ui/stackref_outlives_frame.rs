// An object of an SNC frame cannot be reached after the frame is popped:
// its StackRef cannot leave the frame's closure.
#[path = "../common/mod.rs"]
mod common;

use common::{Lisp, Pair};
use mps::{Arena, StackRef};

fn main() {
    let arena = Arena::new().unwrap();
    let fmt = arena.format::<Lisp>().unwrap();
    let snc = arena.snc(fmt).unwrap();
    let mut ap = snc.ap().unwrap();
    let mut kept: Option<StackRef<'_, Pair>> = None;
    ap.frame(|frame| {
        kept = Some(frame.alloc(Pair::new(1)).unwrap());
    })
    .unwrap();
    let _id = kept.unwrap().id;
}
