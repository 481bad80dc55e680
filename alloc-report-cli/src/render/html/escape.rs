//! Escaping for the two places the report puts untrusted text (function
//! names, file paths, program arguments): HTML text and attributes, and the
//! JSON data blob inside a `<script>` element.

use std::borrow::Cow;

use serde::Serialize;

/// `s` safe as HTML text or as a double- or single-quoted attribute value:
/// `& < > " '` become character references. Control characters become `?`
/// ([`alloc_core::names::printable`]) so they cannot disturb the layout.
pub fn html(s: &str) -> Cow<'_, str> {
    let s = alloc_core::names::printable(s);
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return s;
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `value` as JSON that is safe as the content of a
/// `<script type="application/json">` element.
///
/// Inside a script element the HTML parser only looks for `</script` (and,
/// after `<!--`, for `<script`), so no `<` may appear literally; `>` and `&`
/// are escaped too, for tools that scan such blocks naively. JSON only allows
/// these characters inside strings, where `\u003c` means the same as `<`, so
/// `JSON.parse` reads back exactly the original value. U+2028 and U+2029 are
/// escaped as well, so the text is also a valid JavaScript literal.
///
/// # Errors
/// Any error of serializing `value`.
pub fn script_json(value: &impl Serialize) -> serde_json::Result<String> {
    let json = serde_json::to_string(value)?;
    let mut out = String::with_capacity(json.len() + json.len() / 64);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_markup_and_quotes_and_leaves_plain_text_alone() {
        assert!(matches!(html("demo::main"), Cow::Borrowed("demo::main")));
        assert_eq!(
            html(r#"<img src=x onerror="alert('x')"> & co"#),
            "&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt; &amp; co"
        );
        assert_eq!(html("Vec<T,A>::push"), "Vec&lt;T,A&gt;::push");
        assert_eq!(html("a\nb\u{1b}"), "a?b?");
    }

    #[test]
    fn script_json_cannot_end_the_script_element_and_reads_back_the_same() {
        let hostile = vec![
            "</script><script>alert(1)</script>".to_owned(),
            "<!--<script>".to_owned(),
            "</SCRIPT >".to_owned(),
            "a & b > c \u{2028}\u{2029}".to_owned(),
        ];
        let out = script_json(&hostile).unwrap();
        for bad in ['<', '>', '&', '\u{2028}', '\u{2029}'] {
            assert!(!out.contains(bad), "{bad:?} left in {out}");
        }
        let back: Vec<String> = serde_json::from_str(&out).unwrap();
        assert_eq!(back, hostile);
    }
}
