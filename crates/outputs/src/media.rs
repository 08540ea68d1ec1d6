//! The content type and file extension of a copied output.
//!
//! Providers label their files unevenly: a CDN says `video/mp4`, a bucket says
//! `binary/octet-stream` for everything, a URL may or may not end in `.mp4`. The stored
//! object gets the most specific answer: the response header, else the URL's extension,
//! else `application/octet-stream`; its extension follows the same answer.

/// What the stored object is called and labelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    /// `video/mp4`, `image/png`... (no parameters, lowercase).
    pub content_type: String,
    /// `mp4`, `webm`, `mov`, `png`, `jpg`, `webp`, `gif`, or `bin`.
    pub ext: &'static str,
}

const OCTET_STREAM: &str = "application/octet-stream";

/// Known media: content type, the extension we store it under, other extensions seen in URLs.
const KNOWN: &[(&str, &str, &[&str])] = &[
    ("video/mp4", "mp4", &["m4v"]),
    ("video/webm", "webm", &[]),
    ("video/quicktime", "mov", &[]),
    ("image/png", "png", &[]),
    ("image/jpeg", "jpg", &["jpeg"]),
    ("image/webp", "webp", &[]),
    ("image/gif", "gif", &[]),
];

/// Decides from the `Content-Type` header (if any) and the URL's path.
pub fn media_type(header: Option<&str>, url_path: &str) -> MediaType {
    let from_header = header.map(essence).filter(|ct| !is_generic(ct));
    if let Some(content_type) = from_header {
        let ext = ext_for_content_type(&content_type)
            .or_else(|| known_by_path(url_path).map(|(_, ext)| ext))
            .unwrap_or("bin");
        return MediaType { content_type, ext };
    }
    match known_by_path(url_path) {
        Some((content_type, ext)) => MediaType {
            content_type: content_type.to_owned(),
            ext,
        },
        None => MediaType {
            content_type: OCTET_STREAM.to_owned(),
            ext: "bin",
        },
    }
}

/// `Video/MP4; codecs=avc1` → `video/mp4`.
fn essence(header: &str) -> String {
    header
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Labels that say nothing about the bytes (S3's default, empty, or malformed).
fn is_generic(content_type: &str) -> bool {
    content_type.is_empty()
        || !content_type.contains('/')
        || content_type == OCTET_STREAM
        || content_type == "binary/octet-stream"
}

fn ext_for_content_type(content_type: &str) -> Option<&'static str> {
    KNOWN
        .iter()
        .find(|(known, _, _)| *known == content_type)
        .map(|(_, ext, _)| *ext)
}

fn known_by_path(url_path: &str) -> Option<(&'static str, &'static str)> {
    let file = url_path.rsplit('/').next().unwrap_or_default();
    let (_, ext) = file.rsplit_once('.')?;
    let ext = ext.to_ascii_lowercase();
    KNOWN
        .iter()
        .find(|(_, main, others)| *main == ext || others.contains(&ext.as_str()))
        .map(|(content_type, main, _)| (*content_type, *main))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(header: Option<&str>, path: &str) -> (String, &'static str) {
        let media = media_type(header, path);
        (media.content_type, media.ext)
    }

    #[test]
    fn header_wins_and_names_the_extension() {
        assert_eq!(decide(Some("video/mp4"), "/x"), ("video/mp4".into(), "mp4"));
        assert_eq!(
            decide(Some("Video/QuickTime; charset=x"), "/x.bin"),
            ("video/quicktime".into(), "mov")
        );
        assert_eq!(
            decide(Some("image/jpeg"), "/a.png"),
            ("image/jpeg".into(), "jpg")
        );
    }

    #[test]
    fn generic_header_falls_back_to_the_url_extension() {
        assert_eq!(
            decide(Some("binary/octet-stream"), "/out/v.WEBM"),
            ("video/webm".into(), "webm")
        );
        assert_eq!(decide(None, "/i.jpeg"), ("image/jpeg".into(), "jpg"));
        assert_eq!(decide(None, "/dir.mp4/file"), (OCTET_STREAM.into(), "bin"));
    }

    #[test]
    fn unknown_everything_is_octet_stream_bin() {
        assert_eq!(decide(None, "/x"), (OCTET_STREAM.into(), "bin"));
        assert_eq!(decide(Some(""), "/x.txt"), (OCTET_STREAM.into(), "bin"));
        assert_eq!(
            decide(Some("application/json"), "/x.txt"),
            ("application/json".into(), "bin")
        );
        assert_eq!(
            decide(Some("text/plain"), "/x.gif"),
            ("text/plain".into(), "gif")
        );
    }
}
