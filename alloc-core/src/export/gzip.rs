//! A gzip writer (RFC 1952) that stores its data in uncompressed deflate blocks
//! (RFC 1951, block type 0), with the CRC-32 every gzip reader checks.
//!
//! pprof files must be gzipped; any gzip reader inflates stored blocks. They
//! are not compressed, so the file is the size of the protobuf plus 5 bytes
//! per 64 KiB and 18 bytes of header and trailer.

/// The most bytes one stored block holds.
const MAX_STORED: usize = 0xffff;

/// The CRC-32 table (IEEE 802.3 polynomial, reflected: 0xEDB88320).
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        #[allow(clippy::cast_possible_truncation)]
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 == 1 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// The CRC-32 of `data`, as gzip and zlib compute it.
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// `data` as a gzip member of stored deflate blocks.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let blocks = data.len().div_ceil(MAX_STORED).max(1);
    let mut out = Vec::with_capacity(data.len() + 5 * blocks + 18);
    // Magic, deflate, no flags, no modification time, no extra flags, OS unknown.
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    let mut chunks = data.chunks(MAX_STORED).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        // BFINAL in bit 0, BTYPE 00 in bits 1-2; the rest of the byte pads to
        // the byte boundary where LEN starts.
        out.push(u8::from(chunks.peek().is_none()));
        #[allow(clippy::cast_possible_truncation)] // chunks hold at most 0xffff bytes
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    #[allow(clippy::cast_possible_truncation)] // ISIZE is the length modulo 2^32
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads back a gzip member of stored blocks, checking every field this
    /// writer sets; panics on anything else.
    fn gunzip_stored(gz: &[u8]) -> Vec<u8> {
        assert_eq!(&gz[..4], &[0x1f, 0x8b, 8, 0], "magic, deflate, no flags");
        let mut at = 10;
        let mut data = Vec::new();
        loop {
            let header = gz[at];
            assert_eq!(header & 0b110, 0, "stored block");
            let len = u16::from_le_bytes([gz[at + 1], gz[at + 2]]);
            let nlen = u16::from_le_bytes([gz[at + 3], gz[at + 4]]);
            assert_eq!(len, !nlen);
            at += 5;
            data.extend_from_slice(&gz[at..at + usize::from(len)]);
            at += usize::from(len);
            if header & 1 == 1 {
                break;
            }
        }
        let crc = u32::from_le_bytes(gz[at..at + 4].try_into().unwrap());
        let size = u32::from_le_bytes(gz[at + 4..at + 8].try_into().unwrap());
        assert_eq!(at + 8, gz.len(), "nothing after the trailer");
        assert_eq!(crc, crc32(&data));
        assert_eq!(size as usize, data.len());
        data
    }

    #[test]
    fn crc32_matches_the_standard_check_values() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414f_a339
        );
    }

    #[test]
    fn round_trips_empty_small_and_multi_block_data() {
        for len in [0, 1, 100, MAX_STORED, MAX_STORED + 1, 3 * MAX_STORED + 7] {
            #[allow(clippy::cast_possible_truncation)]
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 300) as u8).collect();
            let gz = gzip(&data);
            assert_eq!(gunzip_stored(&gz), data, "{len} bytes");
            let blocks = len.div_ceil(MAX_STORED).max(1);
            assert_eq!(gz.len(), len + 5 * blocks + 18);
        }
    }

    #[test]
    fn empty_data_is_one_empty_final_block() {
        assert_eq!(
            gzip(b""),
            [
                0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 1, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0
            ]
        );
    }
}
