//! wheelaudit sample: claims cp38-abi3 but imports PyUnicode_AsUTF8AndSize,
//! which joined the limited API only in Python 3.10.
use pyo3::prelude::*;
use pyo3::types::PyString;
use std::os::raw::c_char;

extern "C" {
    // Not exposed by pyo3-ffi under abi3-py38, so declare it ourselves.
    fn PyUnicode_AsUTF8AndSize(
        unicode: *mut pyo3::ffi::PyObject,
        size: *mut pyo3::ffi::Py_ssize_t,
    ) -> *const c_char;
}

/// Length in UTF-8 bytes of a str, via PyUnicode_AsUTF8AndSize.
#[pyfunction]
fn utf8_len(s: &Bound<'_, PyString>) -> PyResult<isize> {
    let mut size: pyo3::ffi::Py_ssize_t = 0;
    // SAFETY: s is a live str object; size is a valid out-pointer.
    let p = unsafe { PyUnicode_AsUTF8AndSize(s.as_ptr(), &mut size) };
    if p.is_null() {
        return Err(PyErr::fetch(s.py()));
    }
    Ok(size)
}

#[pymodule]
fn wa_sample_abi3bad(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(utf8_len, m)?)?;
    m.add("KIND", "abi3bad")?;
    Ok(())
}
