//! `encmount-rsync`: the sudo shim; see `encmount::shim` and design §8.

fn main() {
    std::process::exit(encmount::shim::main(std::env::args_os().skip(1).collect()));
}
