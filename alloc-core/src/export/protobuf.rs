//! A protocol-buffers encoder, just what [`super::pprof`] needs: varints,
//! length-delimited fields (strings, nested messages, packed repeated
//! integers), and proto3's rule that a scalar field at its default (zero,
//! false) is left out.
//!
//! Wire format: each field is a key `(field_number << 3) | wire_type` as a
//! varint, then the value: wire type 0 a varint, wire type 2 a varint length
//! and that many bytes. Varints hold 7 bits per byte, least significant group
//! first, the high bit set on every byte but the last; a negative `int64` is
//! its two's complement as a `u64` (ten bytes).

/// Wire type of varints.
const VARINT: u64 = 0;
/// Wire type of length-delimited values.
const LEN: u64 = 2;

/// Appends `v` as a varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        // Truncation keeps the low 7 bits, which is the point.
        #[allow(clippy::cast_possible_truncation)]
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    #[allow(clippy::cast_possible_truncation)]
    out.push(v as u8);
}

/// An encoded message under construction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    buf: Vec<u8>,
}

impl Message {
    /// An empty message.
    #[must_use]
    pub const fn new() -> Self {
        Self { buf: Vec::new() }
    }

    fn key(&mut self, field: u32, wire_type: u64) {
        put_varint(&mut self.buf, (u64::from(field) << 3) | wire_type);
    }

    /// A `uint64` field; left out when zero.
    pub fn uint64(&mut self, field: u32, v: u64) -> &mut Self {
        if v != 0 {
            self.key(field, VARINT);
            put_varint(&mut self.buf, v);
        }
        self
    }

    /// An `int64` field; left out when zero.
    pub fn int64(&mut self, field: u32, v: i64) -> &mut Self {
        #[allow(clippy::cast_sign_loss)] // two's complement is the encoding
        self.uint64(field, v as u64)
    }

    /// A `bool` field; left out when false.
    pub fn bool(&mut self, field: u32, v: bool) -> &mut Self {
        self.uint64(field, u64::from(v))
    }

    /// A `bytes` or `string` field, always written: an element of a repeated
    /// field counts even when empty.
    pub fn bytes(&mut self, field: u32, v: &[u8]) -> &mut Self {
        self.key(field, LEN);
        put_varint(&mut self.buf, v.len() as u64);
        self.buf.extend_from_slice(v);
        self
    }

    /// A nested message, always written.
    pub fn message(&mut self, field: u32, m: &Self) -> &mut Self {
        self.bytes(field, &m.buf)
    }

    /// A packed repeated `uint64` field; left out when empty.
    pub fn packed_uint64(&mut self, field: u32, vs: &[u64]) -> &mut Self {
        if !vs.is_empty() {
            let mut packed = Vec::with_capacity(vs.len());
            for &v in vs {
                put_varint(&mut packed, v);
            }
            self.bytes(field, &packed);
        }
        self
    }

    /// A packed repeated `int64` field; left out when empty.
    pub fn packed_int64(&mut self, field: u32, vs: &[i64]) -> &mut Self {
        #[allow(clippy::cast_sign_loss)]
        let as_u64: Vec<u64> = vs.iter().map(|&v| v as u64).collect();
        self.packed_uint64(field, &as_u64)
    }

    /// The encoded bytes.
    #[must_use]
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(m: &mut Message) -> Vec<u8> {
        std::mem::take(m).into_bytes()
    }

    #[test]
    fn varints_hold_seven_bits_per_byte_low_group_first() {
        let enc = |v| {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            out
        };
        assert_eq!(enc(0), [0]);
        assert_eq!(enc(1), [1]);
        assert_eq!(enc(127), [0x7f]);
        assert_eq!(enc(128), [0x80, 0x01]);
        assert_eq!(enc(300), [0xac, 0x02]);
        assert_eq!(enc(u64::MAX).len(), 10);
        assert_eq!(*enc(u64::MAX).last().unwrap(), 0x01);
    }

    #[test]
    fn scalar_fields_match_the_protobuf_documentation_examples() {
        // "field 1 = 150" is 08 96 01 in the encoding guide.
        assert_eq!(bytes(Message::new().uint64(1, 150)), [0x08, 0x96, 0x01]);
        // "field 2 = \"testing\"".
        assert_eq!(
            bytes(Message::new().bytes(2, b"testing")),
            [0x12, 0x07, 0x74, 0x65, 0x73, 0x74, 0x69, 0x6e, 0x67]
        );
        // Packed repeated field 4 = [3, 270, 86942].
        assert_eq!(
            bytes(Message::new().packed_uint64(4, &[3, 270, 86942])),
            [0x22, 0x06, 0x03, 0x8e, 0x02, 0x9e, 0xa7, 0x05]
        );
        // A negative int64 is ten bytes of two's complement.
        let neg = bytes(Message::new().int64(1, -1));
        assert_eq!(neg.len(), 11);
        assert_eq!(neg[0], 0x08);
    }

    #[test]
    fn defaults_are_left_out_but_empty_strings_and_messages_are_written() {
        let mut m = Message::new();
        m.uint64(1, 0)
            .int64(2, 0)
            .bool(3, false)
            .packed_uint64(4, &[]);
        assert!(bytes(&mut m).is_empty());
        assert_eq!(bytes(Message::new().bytes(6, b"")), [0x32, 0x00]);
        assert_eq!(bytes(Message::new().bool(7, true)), [0x38, 0x01]);
        let mut inner = Message::new();
        inner.uint64(1, 150);
        assert_eq!(
            bytes(Message::new().message(3, &inner)),
            [0x1a, 0x03, 0x08, 0x96, 0x01]
        );
    }
}
