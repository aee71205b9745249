//! The reverse view's hot paths, measured on [`ReverseTree`] directly (no
//! FUSE round trip, so the figures are the daemon's own cost per request):
//!
//! - `view/read/4k-at-1m`: a 4 KiB read of a 4 MiB file at offset 1 MiB;
//! - `view/read/1m`: a 1 MiB read (what the kernel asks for sequential reads);
//! - `view/lookup`: one lookup of an encrypted name (plus its forget);
//! - `view/readdir-1000`: opendir + readdirplus + releasedir of 1,000 names.
//!
//! Each with the `hardened` preset (AES-256, chained names, path IVs, MAC 8)
//! and `standard` (AES-192, no MAC). Run: `cargo bench --bench view`.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use encmount::excludes::Excludes;
use encmount::view::fuse::ViewTree;
use encmount::view::reverse::tree::{ReverseOptions, ReverseTree};
use encmount::view::table::ROOT_ID;
use encmount::volume::{FileIv, Preset, Volume};

fn tree(preset: Preset, src: &Path) -> ReverseTree {
    let vol = Volume::generate(preset.params(), |b| b.fill(0x5a)).unwrap();
    let opts = ReverseOptions {
        file_iv: FileIv::Path,
        excludes: Excludes::new(&[]).unwrap(),
        config: None,
    };
    ReverseTree::new(vol, src, opts).unwrap()
}

/// The encrypted names in the root, as the kernel would learn them.
fn root_names(t: &ReverseTree) -> Vec<Vec<u8>> {
    let fh = t.opendir(ROOT_ID).unwrap();
    let mut names = Vec::new();
    t.readdir(fh, 0, &mut |_, _, _, n| {
        names.push(n.to_vec());
        false
    })
    .unwrap();
    t.releasedir(fh);
    names
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big");
    std::fs::create_dir(&big).unwrap();
    let data: Vec<u8> = (0..4u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(big.join("file.bin"), &data).unwrap();
    let many = dir.path().join("many");
    std::fs::create_dir(&many).unwrap();
    for i in 0..1000 {
        std::fs::write(many.join(format!("file-{i:04}.txt")), b"x").unwrap();
    }

    for (label, preset) in [
        ("hardened", Preset::Hardened),
        ("standard", Preset::Standard),
    ] {
        let t = tree(preset, &big);
        let name = root_names(&t).remove(0);
        let ino = t.lookup(ROOT_ID, &name).unwrap().ino.0;
        let fh = t.open(ino).unwrap();
        let mut g = c.benchmark_group(format!("view/{label}"));
        g.throughput(Throughput::Bytes(4096));
        g.bench_function("read/4k-at-1m", |b| {
            b.iter(|| {
                t.read(fh, 1 << 20, 4096, &mut |d| {
                    black_box(d.len());
                })
                .unwrap()
            })
        });
        g.throughput(Throughput::Bytes(1 << 20));
        g.bench_function("read/1m", |b| {
            b.iter(|| {
                t.read(fh, 1 << 20, 1 << 20, &mut |d| {
                    black_box(d.len());
                })
                .unwrap()
            })
        });
        t.release(fh);

        let t = tree(preset, &many);
        let names = root_names(&t);
        assert_eq!(names.len(), 1000);
        g.throughput(Throughput::Elements(1));
        let mut i = 0;
        g.bench_function("lookup", |b| {
            b.iter(|| {
                i = (i + 1) % names.len();
                let attr = t.lookup(ROOT_ID, &names[i]).unwrap();
                t.forget(attr.ino.0, 1);
            })
        });
        g.throughput(Throughput::Elements(1000));
        g.bench_function("readdir-1000", |b| {
            b.iter(|| {
                let fh = t.opendir(ROOT_ID).unwrap();
                let mut n = 0;
                t.readdirplus(fh, 0, &mut |_, _, attr| {
                    n += 1;
                    t.forget(attr.ino.0, 1);
                    false
                })
                .unwrap();
                t.releasedir(fh);
                assert_eq!(n, 1000);
            })
        });
        g.finish();
    }
}

criterion_group!(view, benches);
criterion_main!(view);
