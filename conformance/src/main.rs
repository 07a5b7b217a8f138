fn main() {
    eprintln!("lockstep: under construction");
    std::process::exit(2);
}
