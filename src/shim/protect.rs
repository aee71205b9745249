//! Protected args (`s` in the cluster): rsync's client writes the rest of
//! the command line to stdin as NUL-terminated strings ending with an
//! empty one, then the protocol starts (rsync io.c read_args). We read it
//! one byte at a time so that not one protocol byte is consumed, and
//! bound its size and count.

use std::io::{ErrorKind, Read};

use super::Refusal;

/// The largest list read, terminator included.
pub const MAX_BYTES: usize = 64 * 1024;
/// The most strings in the list.
pub const MAX_ARGS: usize = 1024;

/// Reads the list up to and including its empty terminator.
pub fn read_list(input: &mut impl Read) -> Result<Vec<Vec<u8>>, Refusal> {
    let mut list = Vec::new();
    let mut cur = Vec::new();
    let mut total = 0usize;
    let mut byte = [0u8; 1];
    loop {
        match input.read(&mut byte) {
            Ok(0) => {
                return Err(Refusal(
                    "protected args: end of input before the terminating empty string".into(),
                ));
            }
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(Refusal(format!("protected args: cannot read stdin: {e}"))),
        }
        total += 1;
        if total > MAX_BYTES {
            return Err(Refusal(format!(
                "protected args: longer than {MAX_BYTES} bytes"
            )));
        }
        if byte[0] != 0 {
            cur.push(byte[0]);
            continue;
        }
        if cur.is_empty() {
            return Ok(list);
        }
        if list.len() == MAX_ARGS {
            return Err(Refusal(format!(
                "protected args: more than {MAX_ARGS} strings"
            )));
        }
        list.push(std::mem::take(&mut cur));
    }
}
