// A manual block is borrowed like any owned buffer: a slice of it cannot
// be used after the block is freed.
use mps::{Arena, MvffOptions};

fn main() {
    let arena = Arena::new().unwrap();
    let mvff = arena.mvff(&MvffOptions::default()).unwrap();
    let block = mvff.alloc(64).unwrap();
    let bytes: &[u8] = &block;
    block.free();
    assert_eq!(bytes[0], 0);
}
