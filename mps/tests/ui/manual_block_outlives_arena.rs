// A block of a manual pool borrows the arena: it cannot be used (or freed)
// after the arena, which destroys the pool, is dropped.
use mps::{Arena, MvffOptions};

fn main() {
    let arena = Arena::new().unwrap();
    let mvff = arena.mvff(&MvffOptions::default()).unwrap();
    let block = mvff.alloc(64).unwrap();
    drop(arena);
    assert_eq!(block[0], 0);
}
