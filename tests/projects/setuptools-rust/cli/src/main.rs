//! Prints the version of the SQLite library the loader found.
fn main() {
    println!("{}", rusqlite::version());
}
