//! Baseline code that picks an AVX2 kernel at run time, as memchr and orjson do.
use std::collections::HashMap;

#[target_feature(enable = "avx2")]
unsafe fn sum_avx2(x: &[f32], y: &[f32]) -> f32 {
    x.iter().zip(y.iter()).map(|(a, b)| a * b).sum()
}

#[target_feature(enable = "avx2")]
unsafe fn count_avx2(x: &[u8], needle: u8) -> usize {
    x.iter().filter(|&&b| b == needle).count()
}

fn sum_plain(x: &[f32], y: &[f32]) -> f32 {
    x.iter().zip(y.iter()).map(|(a, b)| a * b).sum()
}

fn count_plain(x: &[u8], needle: u8) -> usize {
    x.iter().filter(|&&b| b == needle).count()
}

fn dot(x: &[f32], y: &[f32]) -> f32 {
    if is_x86_feature_detected!("avx2") {
        unsafe { sum_avx2(x, y) }
    } else {
        sum_plain(x, y)
    }
}

fn count(x: &[u8], needle: u8) -> usize {
    if is_x86_feature_detected!("avx2") {
        unsafe { count_avx2(x, needle) }
    } else {
        count_plain(x, needle)
    }
}

macro_rules! kernels {
    ($($name:ident: $t:ty),*) => {$(
        mod $name {
            pub fn work(n: usize, seed: u64) -> u64 {
                let mut x = seed;
                let mut v: Vec<$t> = (0..n).map(|_| { x ^= x << 13; x ^= x >> 7; x ^= x << 17; (x % 251) as $t }).collect();
                let w: Vec<$t> = v.iter().rev().cloned().collect();
                for (a, b) in v.iter_mut().zip(w.iter()) { *a = *a / (2 as $t) + *b / (3 as $t); }
                let s: f64 = v.iter().map(|&a| a as f64).sum();
                let m = v.iter().cloned().fold(v[0], |m, a| if a > m { a } else { m });
                v.sort_unstable_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
                let pos = v.partition_point(|&a| a < m);
                (s as u64) ^ (pos as u64) ^ (m as u64)
            }
        }
    )*};
}
kernels!(k_f32: f32, k_f64: f64, k_i8: i8, k_u8: u8, k_i16: i16, k_u16: u16, k_i32: i32, k_u32: u32, k_i64: i64, k_u64: u64);

#[no_mangle]
pub extern "C" fn run() -> i32 {
    let n = 4096;
    let x: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let b: Vec<u8> = (0..n).map(|i| (i * 13) as u8).collect();
    let mut r = dot(&x, &x) as u64 ^ count(&b, 7) as u64;
    for f in [k_f32::work, k_f64::work, k_i8::work, k_u8::work, k_i16::work, k_u16::work, k_i32::work, k_u32::work, k_i64::work, k_u64::work] {
        r ^= f(n, r | 1);
    }
    let mut counts: HashMap<u64, usize> = HashMap::new();
    *counts.entry(r).or_insert(0) += 1;
    (counts.len() & 1) as i32
}
