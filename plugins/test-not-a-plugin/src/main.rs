//! A plain WASI command: `keystead plugin check` must reject it.

fn main() {
    println!("not a plugin");
}
