//! wheelaudit sample: depends on the system libsqlite3.so.0 (not in any manylinux policy).
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// Version of the SQLite library actually loaded at run time.
#[pyfunction]
fn sqlite_version() -> String {
    rusqlite::version().to_string()
}

/// Run a tiny query in an in-memory database: sum of 1..=n.
#[pyfunction]
fn sum_to(n: i64) -> PyResult<i64> {
    let err = |e: rusqlite::Error| PyRuntimeError::new_err(e.to_string());
    let conn = rusqlite::Connection::open_in_memory().map_err(err)?;
    conn.query_row(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?1) \
         SELECT total(x) FROM c",
        [n],
        |row| row.get::<_, f64>(0),
    )
    .map(|v| v as i64)
    .map_err(err)
}

#[pymodule]
fn wa_sample_syslib(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sqlite_version, m)?)?;
    m.add_function(wrap_pyfunction!(sum_to, m)?)?;
    m.add("KIND", "syslib")?;
    Ok(())
}
