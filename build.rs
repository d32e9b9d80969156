//! `cfg(lockdep_off)` compiles validation out. It is set by the `off` feature,
//! or directly with `RUSTFLAGS="--cfg lockdep_off"`.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(lockdep_off)");
    if std::env::var_os("CARGO_FEATURE_OFF").is_some() {
        println!("cargo::rustc-cfg=lockdep_off");
    }
}
