//! Ordinary numeric code: what target-cpu decides is how every line of it is compiled.
use std::collections::HashMap;

macro_rules! kernels {
    ($($name:ident: $t:ty),*) => {$(
        mod $name {
            pub fn work(n: usize, seed: u64) -> u64 {
                let mut x = seed;
                let mut v: Vec<$t> = (0..n).map(|_| { x ^= x << 13; x ^= x >> 7; x ^= x << 17; (x % 251) as $t }).collect();
                let w: Vec<$t> = v.iter().rev().cloned().collect();
                for (a, b) in v.iter_mut().zip(w.iter()) { *a = *a / (2 as $t) + *b / (3 as $t); }
                let s: f64 = v.iter().map(|&a| a as f64).sum();
                let d: f64 = v.iter().zip(w.iter()).map(|(&a, &b)| (a as f64) * (b as f64)).sum();
                let m = v.iter().cloned().fold(v[0], |m, a| if a > m { a } else { m });
                v.sort_unstable_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
                let mut u = w.clone();
                u.sort_by(|a, b| b.partial_cmp(a).unwrap_or(std::cmp::Ordering::Equal));
                let pos = v.partition_point(|&a| a < m);
                (s as u64) ^ (d as u64).rotate_left((n % 63) as u32) ^ (pos as u64) ^ (u.len() as u64) ^ (m as u64)
            }
        }
    )*};
}
kernels!(k_f32: f32, k_f64: f64, k_i8: i8, k_u8: u8, k_i16: i16, k_u16: u16, k_i32: i32, k_u32: u32, k_i64: i64, k_u64: u64);

fn bits(words: &[u64], shifts: &[u8]) -> u64 {
    let mut acc = 0u64;
    for (i, (&w, &s)) in words.iter().zip(shifts.iter()).enumerate() {
        acc = acc.wrapping_add((w << (s & 63)) ^ (w >> ((s + i as u8) & 63)));
        acc ^= u64::from(w.count_ones()) << (w.leading_zeros() & 31);
        acc = acc.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (w & w.wrapping_sub(1)) ^ (!w & acc);
    }
    acc
}

fn words(text: &str) -> usize {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for w in text.split_whitespace() {
        *counts.entry(w).or_insert(0) += 1;
    }
    let mut keys: Vec<_> = counts.into_iter().collect();
    keys.sort();
    keys.len() + keys.iter().map(|(k, v)| k.len() * v).sum::<usize>()
}

#[no_mangle]
pub extern "C" fn run() -> i32 {
    let n = 4096;
    let mut r = 0u64;
    for f in [k_f32::work, k_f64::work, k_i8::work, k_u8::work, k_i16::work, k_u16::work, k_i32::work, k_u32::work, k_i64::work, k_u64::work] {
        r ^= f(n, r | 1);
    }
    let w: Vec<u64> = (0..n as u64).map(|i| i.wrapping_mul(0x2545_F491_4F6C_DD1D)).collect();
    let s: Vec<u8> = (0..n).map(|i| (i * 7) as u8).collect();
    r ^= bits(&w, &s);
    r ^= words("the quick brown fox jumps over the lazy dog the end") as u64;
    (r & 1) as i32
}
