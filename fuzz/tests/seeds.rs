//! The seed corpus of `elf_load` is worth fuzzing from: most seeds load and
//! lay out (those that do not exercise the error paths). Skipped when the
//! corpus has not been generated (`fuzz/make-seeds.sh`).

use std::fs;
use std::path::Path;

use codepool::layout::{self, Binding};

#[test]
fn seeds_load_and_lay_out() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/elf_load");
    let Ok(entries) = fs::read_dir(&dir) else {
        eprintln!(
            "no seed corpus in {}: run fuzz/make-seeds.sh",
            dir.display()
        );
        return;
    };
    let mut seeds: Vec<_> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("seed-")
        })
        .collect();
    seeds.sort();
    let (mut loaded, mut laid_out) = (0, 0);
    for path in &seeds {
        let data = fs::read(path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy();
        match codepool::elf::load(&data) {
            Ok(obj) => {
                loaded += 1;
                match layout::layout(&obj, |_| {
                    Some(Binding::Runtime {
                        address: 0x7f00_0000_1000,
                    })
                }) {
                    Ok(image) => {
                        laid_out += 1;
                        println!(
                            "{name}: {} relocations, {:?}",
                            obj.relocations().len(),
                            image.stats().sidecar
                        );
                    }
                    Err(e) => println!("{name}: layout: {e}"),
                }
            }
            Err(e) => println!("{name}: load: {e}"),
        }
        mps_rs_fuzz::elf_load::run(&data);
    }
    println!("{} seeds, {loaded} load, {laid_out} lay out", seeds.len());
    assert!(
        seeds.is_empty() || laid_out * 2 >= seeds.len(),
        "most seeds should lay out"
    );
}
