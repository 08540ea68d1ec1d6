//! Keeping secrets out of error text and logs.
//!
//! Provider output URLs are often presigned (`?X-Amz-Signature=...`, `?sig=...`): the query
//! is a credential. Storage errors can quote request URLs too. Everything this crate logs or
//! puts in an error goes through here first.

use url::Url;

/// The URL without query, fragment or user info: `https://host/path/x.mp4`.
pub fn redact_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    // Only fails for URLs that cannot have credentials; then there is nothing to remove.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

/// `text` with the query and fragment cut from every `http://`/`https://` URL in it, and any
/// user info dropped, so a message quoting a request cannot leak a signature.
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = find_url_start(rest) {
        let (before, from_url) = rest.split_at(start);
        out.push_str(before);
        let end = from_url
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | ')' | ','))
            .unwrap_or(from_url.len());
        let (candidate, after) = from_url.split_at(end);
        match Url::parse(candidate) {
            Ok(url) => out.push_str(&redact_url(&url)),
            // Not a URL after all: drop everything after `?`/`#` to be safe.
            Err(_) => out.push_str(candidate.split(['?', '#']).next().unwrap_or_default()),
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

fn find_url_start(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    [lower.find("http://"), lower.find("https://")]
        .into_iter()
        .flatten()
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_loses_query_fragment_and_credentials() {
        let url =
            Url::parse("https://user:pw@cdn.example/a/b.mp4?X-Amz-Signature=abc#t=1").unwrap();
        assert_eq!(redact_url(&url), "https://cdn.example/a/b.mp4");
    }

    #[test]
    fn text_keeps_words_and_drops_every_query() {
        let text = "error sending request for url (https://cdn.example/x.mp4?sig=SECRET): \
                    retried HTTP://s3.local/b/k?uploadId=1&X-Amz-Credential=AKID then gave up";
        let shown = redact_text(text);
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(!shown.contains("AKID"), "{shown}");
        assert!(shown.contains("https://cdn.example/x.mp4)"), "{shown}");
        assert!(shown.contains("then gave up"), "{shown}");
    }
}
