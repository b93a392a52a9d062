//! wheelaudit sample: uses glibc 2.28 (statx) and 2.36 (arc4random) symbols,
//! yet is built natively and tagged manylinux2014 (glibc 2.17): a lying tag.
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use std::ffi::CString;

extern "C" {
    // GLIBC_2.36; declared here because the libc crate may not expose it.
    fn arc4random() -> u32;
}

/// A random 32-bit number from glibc's arc4random (GLIBC_2.36).
#[pyfunction]
fn random_u32() -> u32 {
    // SAFETY: arc4random takes no arguments and cannot fail.
    unsafe { arc4random() }
}

/// File size via statx(2) through glibc's wrapper (GLIBC_2.28).
#[pyfunction]
fn statx_size(path: &str) -> PyResult<u64> {
    let c = CString::new(path).map_err(|e| PyOSError::new_err(e.to_string()))?;
    // SAFETY: statx only writes into the zeroed buffer we pass.
    let mut buf: libc::statx = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statx(libc::AT_FDCWD, c.as_ptr(), 0, libc::STATX_SIZE, &mut buf) };
    if rc != 0 {
        return Err(PyOSError::new_err(std::io::Error::last_os_error().to_string()));
    }
    Ok(buf.stx_size)
}

#[pymodule]
fn wa_sample_newglibc(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(random_u32, m)?)?;
    m.add_function(wrap_pyfunction!(statx_size, m)?)?;
    m.add("KIND", "newglibc")?;
    Ok(())
}
