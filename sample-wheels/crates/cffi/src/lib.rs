//! wheelaudit sample: plain C ABI functions wrapped by maturin's cffi bindings.

/// Add two 32-bit integers.
#[no_mangle]
pub extern "C" fn wa_add(a: i32, b: i32) -> i32 {
    a.wrapping_add(b)
}

/// Integer square root (floor).
#[no_mangle]
pub extern "C" fn wa_isqrt(n: u64) -> u64 {
    let mut x = (n as f64).sqrt() as u64;
    while x * x > n {
        x -= 1;
    }
    while (x + 1) * (x + 1) <= n {
        x += 1;
    }
    x
}
