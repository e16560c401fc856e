//! TEMPORARY stub until the media branch lands.
pub mod dtmf;
