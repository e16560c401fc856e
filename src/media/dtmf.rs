//! TEMPORARY stub until the media branch lands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Digit(u8);
impl Digit {
    pub fn from_char(c: char) -> Option<Digit> {
        matches!(c, '0'..='9' | '*' | '#' | 'A'..='D').then_some(Digit(c as u8))
    }
    pub fn as_char(self) -> char {
        self.0 as char
    }
}
