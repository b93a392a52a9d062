//! Link libpython explicitly.
//!
//! maturin sets PYO3_BUILD_EXTENSION_MODULE, so pyo3 alone no longer links
//! libpython. Real projects that build with plain cargo, or that enable an
//! "embed Python" path, end up with DT_NEEDED libpython3.X.so.1.0; this
//! reproduces that. WA_SAMPLE_LIBPYTHON_DIR points at the directory holding
//! libpython3.11.so (build.py sets it from sysconfig LIBDIR).
fn main() {
    println!("cargo:rerun-if-env-changed=WA_SAMPLE_LIBPYTHON_DIR");
    if let Ok(dir) = std::env::var("WA_SAMPLE_LIBPYTHON_DIR") {
        println!("cargo:rustc-link-search=native={dir}");
    }
    println!("cargo:rustc-link-lib=dylib=python3.11");
}
