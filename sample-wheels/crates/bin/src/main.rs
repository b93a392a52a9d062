//! wheelaudit sample: a tiny program shipped as a wheel script (.data/scripts).
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        println!("wa-sample-bin ok");
    } else {
        println!("wa-sample-bin: {}", args.join(" "));
    }
}
