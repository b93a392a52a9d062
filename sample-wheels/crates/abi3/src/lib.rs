//! wheelaudit sample: the clean baseline, a stable-ABI (abi3-py38) module.
use pyo3::prelude::*;

/// Add two integers.
#[pyfunction]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[pymodule]
fn wa_sample_abi3(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(add, m)?)?;
    m.add("KIND", "abi3")?;
    Ok(())
}
