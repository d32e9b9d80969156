//! Always compile validation out: this crate is `lockdep` with `cfg(lockdep_off)`.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(lockdep_off)");
    println!("cargo::rustc-cfg=lockdep_off");
}
