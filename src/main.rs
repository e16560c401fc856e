fn main() {
    println!("qonyrau: under construction");
}
