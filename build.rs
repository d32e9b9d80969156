//! `cfg(lockdep_off)` compiles validation out. It is set only by the final
//! build, with `RUSTFLAGS="--cfg lockdep_off"`: no Cargo feature sets it,
//! since features are additive and one crate's choice would be everyone's.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(lockdep_off)");
}
