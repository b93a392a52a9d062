//! wheelaudit sample: like abi3, but with full DWARF debug info kept.
use pyo3::prelude::*;

/// Add two integers.
#[pyfunction]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[pymodule]
fn wa_sample_debuginfo(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(add, m)?)?;
    m.add("KIND", "debuginfo")?;
    Ok(())
}
