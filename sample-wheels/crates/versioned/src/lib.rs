//! wheelaudit sample: a version-specific (cp311-cp311) module, not abi3.
use pyo3::prelude::*;

/// Multiply two integers.
#[pyfunction]
fn mul(a: i64, b: i64) -> i64 {
    a * b
}

#[pymodule]
fn wa_sample_versioned(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(mul, m)?)?;
    m.add("KIND", "versioned")?;
    Ok(())
}
