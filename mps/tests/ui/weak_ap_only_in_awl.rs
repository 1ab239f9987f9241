// Weak allocation points exist only in AWL pools, ambiguous ones only in
// AMS pools: the methods are not there on other classes.
#[path = "../common/mod.rs"]
mod common;

use common::Lisp;
use mps::{Arena, PoolOptions};

fn main() {
    let arena = Arena::new().unwrap();
    let fmt = arena.format::<Lisp>().unwrap();
    let ams = arena.ams(fmt, &PoolOptions::default()).unwrap();
    let awl = arena.awl(fmt, &PoolOptions::default()).unwrap();
    let _weak = ams.weak_ap();
    let _ambiguous = awl.ambiguous_ap();
}
