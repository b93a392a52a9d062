//! wheelaudit sample: a module with DT_NEEDED on libpython3.11 (see build.rs).
use pyo3::prelude::*;

/// Return the running interpreter's version string.
#[pyfunction]
fn version(py: Python<'_>) -> String {
    py.version().to_string()
}

#[pymodule]
fn wa_sample_libpython(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add("KIND", "libpython")?;
    Ok(())
}
