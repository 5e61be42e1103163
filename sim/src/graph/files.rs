//! Attachment bytes: small real files (PDF, PNG, XLSX, text) built at seed time, and large
//! files generated on the fly from a position-addressable PRNG so they are never held in memory.
//!
//! Also the chunked base64 encoders that stream those bytes, in the unwrapped form of Graph's
//! `contentBytes` and the 76-column form of MIME bodies.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};

/// Raw chunk size for `$value` streams.
const RAW_CHUNK: usize = 64 * 1024;
/// Input bytes per unwrapped base64 chunk: a multiple of 3 so chunks concatenate without padding.
const B64_CHUNK: usize = 3 * 21_845;
/// Input bytes per MIME base64 line (76 output characters).
const MIME_LINE_INPUT: usize = 57;
/// Input bytes per wrapped base64 chunk: whole lines only.
const MIME_CHUNK: usize = MIME_LINE_INPUT * 1_149;

/// Bytes of a file: held when small, generated on demand when large.
#[derive(Debug, Clone)]
pub(crate) enum Content {
    /// Bytes built at seed time.
    Held(Bytes),
    /// `len` bytes: `header`, then a PRNG stream keyed by `seed`.
    Generated { seed: u64, len: u64, header: &'static [u8] },
}

impl Content {
    /// Number of bytes served for this content.
    pub(crate) fn len(&self) -> u64 {
        match self {
            Content::Held(bytes) => bytes.len() as u64,
            Content::Generated { len, .. } => *len,
        }
    }

    /// Fills `buf` with the bytes starting at `offset` (the caller keeps the range in bounds).
    fn read_at(&self, offset: u64, buf: &mut [u8]) {
        match self {
            Content::Held(bytes) => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
                let end = (start + buf.len()).min(bytes.len());
                buf[..end - start].copy_from_slice(&bytes[start..end]);
            }
            Content::Generated { seed, header, .. } => fill_generated(*seed, header, offset, buf),
        }
    }

    /// All bytes in memory; only for content known to be small.
    pub(crate) fn to_bytes(&self) -> Bytes {
        match self {
            Content::Held(bytes) => bytes.clone(),
            Content::Generated { len, .. } => {
                let mut buf = vec![0u8; usize::try_from(*len).unwrap_or(0)];
                self.read_at(0, &mut buf);
                Bytes::from(buf)
            }
        }
    }

    /// The bytes as a stream of chunks of `chunk` bytes (the last may be shorter).
    fn chunks(&self, chunk: usize) -> BoxStream<'static, Bytes> {
        if let Content::Held(bytes) = self
            && bytes.len() <= chunk
        {
            return stream::iter([bytes.clone()]).boxed();
        }
        let content = self.clone();
        let total = content.len();
        stream::unfold(0u64, move |offset| {
            let content = content.clone();
            async move {
                if offset >= total {
                    return None;
                }
                let n = usize::try_from((total - offset).min(chunk as u64)).unwrap_or(chunk);
                let mut buf = vec![0u8; n];
                content.read_at(offset, &mut buf);
                Some((Bytes::from(buf), offset + n as u64))
            }
        })
        .boxed()
    }

    /// Raw bytes for `$value`.
    pub(crate) fn raw_stream(&self) -> BoxStream<'static, Bytes> {
        self.chunks(RAW_CHUNK)
    }

    /// Unwrapped, padded base64 (Graph `contentBytes`), chunked on multiples of 3 input bytes.
    pub(crate) fn base64_stream(&self) -> BoxStream<'static, Bytes> {
        self.chunks(B64_CHUNK)
            .map(|chunk| Bytes::from(STANDARD.encode(&chunk)))
            .boxed()
    }

    /// Length of [`Content::base64_stream`].
    pub(crate) fn base64_len(&self) -> u64 {
        self.len().div_ceil(3) * 4
    }

    /// MIME base64: 76-character lines, each ending in CRLF.
    pub(crate) fn mime_base64_stream(&self) -> BoxStream<'static, Bytes> {
        self.chunks(MIME_CHUNK)
            .map(|chunk| Bytes::from(wrap_base64(&chunk)))
            .boxed()
    }

    /// Length of [`Content::mime_base64_stream`].
    pub(crate) fn mime_base64_len(&self) -> u64 {
        let len = self.len();
        let line = MIME_LINE_INPUT as u64;
        let full = len / line;
        let rest = len % line;
        full * 78 + if rest > 0 { rest.div_ceil(3) * 4 + 2 } else { 0 }
    }
}

/// Base64 of `input` split into 76-character CRLF-terminated lines.
fn wrap_base64(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 57 * 78 + 80);
    for line in input.chunks(MIME_LINE_INPUT) {
        out.extend_from_slice(STANDARD.encode(line).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// splitmix64: a counter-based PRNG, so any byte range is computable without the ones before it.
fn prng_word(seed: u64, index: u64) -> u64 {
    let mut z = seed.wrapping_add(index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn fill_generated(seed: u64, header: &[u8], offset: u64, buf: &mut [u8]) {
    let mut pos = offset;
    let mut out = 0usize;
    while out < buf.len() {
        if let Some(&b) = usize::try_from(pos).ok().and_then(|p| header.get(p)) {
            buf[out] = b;
            out += 1;
            pos += 1;
            continue;
        }
        let word = prng_word(seed, pos / 8).to_le_bytes();
        let within = usize::try_from(pos % 8).unwrap_or(0);
        let n = (8 - within).min(buf.len() - out);
        buf[out..out + n].copy_from_slice(&word[within..within + n]);
        out += n;
        pos += n as u64;
    }
}

/// CRC-32 (IEEE), as PNG chunks and ZIP entries need it.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// A one-page PDF showing `lines` (ASCII) in Helvetica, with a correct cross-reference table.
pub(crate) fn pdf(title: &str, lines: &[String]) -> Bytes {
    let mut text = String::from("BT\n/F1 11 Tf\n16 TL\n56 780 Td\n");
    for line in lines {
        text.push_str(&format!("({}) Tj T*\n", pdf_escape(line)));
    }
    text.push_str("ET\n");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>"
            .to_owned(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{text}endstream", text.len()),
        format!("<< /Title ({}) /Producer (Microsoft Word for Microsoft 365) >>", pdf_escape(title)),
    ];
    let mut out = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    let trailer = format!(
        "trailer\n<< /Size {} /Root 1 0 R /Info 6 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    );
    out.extend_from_slice(trailer.as_bytes());
    Bytes::from(out)
}

fn pdf_escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '(' | ')' | '\\' => format!("\\{c}"),
            c if c.is_ascii() => c.to_string(),
            _ => "?".to_owned(),
        })
        .collect()
}

/// An RGB PNG of `width`×`height` with a soft diagonal gradient tinted by `tint`
/// (uncompressed deflate blocks, so no compressor is needed).
pub(crate) fn png(width: u32, height: u32, tint: [u8; 3]) -> Bytes {
    let mut raw = Vec::new();
    for y in 0..height {
        raw.push(0); // filter: none
        for x in 0..width {
            let shade = u8::try_from((x + y) * 255 / (width + height).max(1)).unwrap_or(255);
            raw.extend(tint.iter().map(|t| t.saturating_add(shade / 2)));
        }
    }
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter, no interlace
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    png_chunk(&mut out, b"IHDR", &ihdr);
    png_chunk(&mut out, b"IDAT", &zlib_stored(&raw));
    png_chunk(&mut out, b"IEND", &[]);
    Bytes::from(out)
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&u32::try_from(data.len()).unwrap_or(0).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// zlib stream of stored (uncompressed) deflate blocks.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = data.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        out.push(u8::from(i + 1 == blocks.len()));
        let len = u16::try_from(block.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}

/// A minimal Office Open XML workbook with one sheet of `rows` (stored ZIP entries).
pub(crate) fn xlsx(sheet_name: &str, rows: &[Vec<String>]) -> Bytes {
    let mut sheet = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
    );
    for (r, row) in rows.iter().enumerate() {
        sheet.push_str(&format!(r#"<row r="{}">"#, r + 1));
        for (c, cell) in row.iter().enumerate() {
            let col = char::from(b'A' + u8::try_from(c % 26).unwrap_or(0));
            if cell.parse::<f64>().is_ok() {
                sheet.push_str(&format!(r#"<c r="{col}{}"><v>{cell}</v></c>"#, r + 1));
            } else {
                let text = xml_escape(cell);
                sheet.push_str(&format!(
                    r#"<c r="{col}{}" t="inlineStr"><is><t>{text}</t></is></c>"#,
                    r + 1
                ));
            }
        }
        sheet.push_str("</row>");
    }
    sheet.push_str("</sheetData></worksheet>");
    let workbook = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="{}" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
        xml_escape(sheet_name)
    );
    let entries: [(&str, String); 5] = [
        (
            "[Content_Types].xml",
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#.to_owned(),
        ),
        (
            "_rels/.rels",
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.to_owned(),
        ),
        ("xl/workbook.xml", workbook),
        (
            "xl/_rels/workbook.xml.rels",
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#.to_owned(),
        ),
        ("xl/worksheets/sheet1.xml", sheet),
    ];
    zip_stored(&entries)
}

/// A ZIP archive of uncompressed entries (UTF-8 names).
fn zip_stored(entries: &[(&str, String)]) -> Bytes {
    // 2026-03-02 09:00:00 in DOS date/time.
    const DOS_TIME: u16 = 9 << 11;
    const DOS_DATE: u16 = ((2026 - 1980) << 9) | (3 << 5) | 2;
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let crc = crc32(data.as_bytes());
        let size = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let name_len = u16::try_from(name.len()).unwrap_or(0);
        let offset = u32::try_from(out.len()).unwrap_or(u32::MAX);
        let common = |buf: &mut Vec<u8>| {
            for v in [20u16, 0x0800, 0, DOS_TIME, DOS_DATE] {
                buf.extend_from_slice(&v.to_le_bytes());
            }
            for v in [crc, size, size] {
                buf.extend_from_slice(&v.to_le_bytes());
            }
            buf.extend_from_slice(&name_len.to_le_bytes());
            buf.extend_from_slice(&0u16.to_le_bytes());
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data.as_bytes());
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes());
        common(&mut central);
        central.extend_from_slice(&[0; 8]); // comment length, disk, internal and external attributes
        central.extend_from_slice(&[0; 2]);
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let count = u16::try_from(entries.len()).unwrap_or(0);
    let central_offset = u32::try_from(out.len()).unwrap_or(u32::MAX);
    let central_len = u32::try_from(central.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&central_len.to_le_bytes());
    out.extend_from_slice(&central_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    Bytes::from(out)
}

/// Escapes text for XML character data and attribute values.
pub(crate) fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn collect(stream: BoxStream<'static, Bytes>) -> Vec<u8> {
        stream
            .fold(Vec::new(), |mut acc, b| async move {
                acc.extend_from_slice(&b);
                acc
            })
            .await
    }

    #[tokio::test]
    async fn generated_content_is_deterministic_and_chunking_does_not_change_it() {
        let content = Content::Generated {
            seed: 7,
            len: 200_003,
            header: b"HEAD",
        };
        let raw = collect(content.raw_stream()).await;
        assert_eq!(raw.len(), 200_003);
        assert_eq!(&raw[..4], b"HEAD");
        assert_eq!(raw, content.to_bytes().to_vec());
        let b64 = collect(content.base64_stream()).await;
        assert_eq!(b64.len() as u64, content.base64_len());
        assert_eq!(STANDARD.decode(&b64).unwrap(), raw);
        let mime = collect(content.mime_base64_stream()).await;
        assert_eq!(mime.len() as u64, content.mime_base64_len());
        assert!(mime.split(|b| *b == b'\n').all(|line| line.len() <= 77));
        let joined: Vec<u8> = mime.into_iter().filter(|b| *b != b'\r' && *b != b'\n').collect();
        assert_eq!(STANDARD.decode(joined).unwrap(), raw);
    }

    #[test]
    fn crc32_matches_the_reference_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn files_have_their_magic_numbers() {
        assert!(pdf("t", &["a (b)".into()]).starts_with(b"%PDF-1.7"));
        assert!(png(4, 4, [10, 20, 30]).starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(xlsx("Sheet", &[vec!["a".into(), "1".into()]]).starts_with(b"PK\x03\x04"));
    }
}
