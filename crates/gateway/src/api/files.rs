//! `GET /v1/files/{task_id}/{index}` (and `HEAD`): a stored output, for its tenant's key or
//! a signed URL (`expires`, `sig`), so a URL can go to a browser or a video player. Served
//! from storage in a stream, with `Range` (206), `ETag` (the stored bytes' SHA-256) and
//! `If-None-Match`.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use futures::StreamExt;
use taskgate_outputs::{ByteRange, Forbidden, StorageError};

use crate::error::ApiError;
use crate::outputs::object_key;
use crate::runtime::Runtime;
use crate::state::AppState;
use crate::tasks::refresh::to_chrono;

/// A stored output of a task.
#[utoipa::path(get, path = "/v1/files/{task_id}/{index}", tag = "files",
    params(
        ("task_id" = String, Path, description = "The task's id."),
        ("index" = u32, Path, description = "The output's place in `outputs`, from 0."),
        ("expires" = Option<u64>, Query, description = "Of a signed URL: Unix seconds it stops working."),
        ("sig" = Option<String>, Query, description = "Of a signed URL: its signature."),
        ("Range" = Option<String>, Header, description = "One `bytes=` range."),
    ),
    responses(
        (status = 200, description = "The file.", content_type = "application/octet-stream",
            headers(("x-request-id" = String, description = "The request's id."),
                    ("ETag" = String, description = "The stored bytes' SHA-256, quoted."))),
        (status = 206, description = "The asked range of the file (`Content-Range`).",
            headers(("x-request-id" = String, description = "The request's id."))),
        (status = 304, description = "`If-None-Match` named the file's ETag.",
            headers(("x-request-id" = String, description = "The request's id."))),
        (status = 400, response = crate::api::openapi::responses::BadRequest),
        (status = 401, response = crate::api::openapi::responses::Unauthorized),
        (status = 403, response = crate::api::openapi::responses::Forbidden),
        (status = 404, response = crate::api::openapi::responses::NotFound),
        (status = 416, response = crate::api::openapi::responses::RangeNotSatisfiable),
        (status = 500, response = crate::api::openapi::responses::Internal),
        (status = 503, response = crate::api::openapi::responses::Unavailable),
    ),
    security(("bearer" = []), ()))]
pub async fn serve_file(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    Path((task_id, index)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let runtime = state.runtime.load_full();
    let index: u32 = index
        .parse()
        .map_err(|_| ApiError::NotFound("no such file"))?;
    let tenant = who(&state, &runtime, &headers, &query, &task_id, index)?;
    let (Some(storage), Some(settings)) =
        (runtime.outputs.as_ref(), runtime.config.outputs.as_ref())
    else {
        return Err(ApiError::NotFound("no such file"));
    };
    let record = state
        .store
        .get(&tenant, &task_id)
        .await?
        .ok_or(ApiError::NotFound("no such file"))?;
    let task = &record.task;
    let output = usize::try_from(index)
        .ok()
        .and_then(|i| task.outputs.get(i))
        .filter(|o| o.stored == Some(true))
        .ok_or(ApiError::NotFound("no such file"))?;
    let stored_at = task.finished_at.unwrap_or(task.updated_at);
    if stored_at + to_chrono(settings.keep_for) <= Utc::now() {
        return Err(ApiError::NotFound("this file expired (outputs.keep_for)"));
    }
    let etag = output.sha256.as_ref().map(|s| format!("\"{s}\""));
    if let (Some(etag), Some(wanted)) = (&etag, headers.get(header::IF_NONE_MATCH)) {
        let wanted = wanted.to_str().unwrap_or_default();
        if wanted
            .split(',')
            .any(|w| w.trim() == etag || w.trim() == "*")
        {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            put_header(&mut response, header::ETAG, etag);
            return Ok(response);
        }
    }
    let range = match headers.get(header::RANGE) {
        None => None,
        Some(value) => parse_range(value.to_str().unwrap_or_default()),
    };
    let key = object_key(&tenant, &task_id, index as usize, output)
        .map_err(|_| ApiError::NotFound("no such file"))?;
    let read = match storage.get_range(&key, range).await {
        Ok(read) => read,
        Err(StorageError::NotFound { .. }) => return Err(ApiError::NotFound("no such file")),
        Err(StorageError::RangeNotSatisfiable { size }) => {
            let mut response = ApiError::RangeNotSatisfiable(size).into_response();
            put_header(
                &mut response,
                header::CONTENT_RANGE,
                &format!("bytes */{size}"),
            );
            return Ok(response);
        }
        Err(e) => {
            tracing::warn!(task = %task_id, index, error = %e, "could not read a stored output");
            return Err(ApiError::Unavailable(
                "the outputs storage did not answer; try again".into(),
            ));
        }
    };
    let partial = range.is_some();
    let length = read.range.end - read.range.start;
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from_stream(read.body.map(|chunk| chunk.map_err(std::io::Error::other)))
    };
    let mut response = body.into_response();
    *response.status_mut() = if partial {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let content_type = output
        .content_type
        .as_deref()
        .unwrap_or("application/octet-stream");
    put_header(&mut response, header::CONTENT_TYPE, content_type);
    put_header(&mut response, header::CONTENT_LENGTH, &length.to_string());
    put_header(&mut response, header::ACCEPT_RANGES, "bytes");
    if partial {
        let last = read.range.end.saturating_sub(1);
        let value = format!("bytes {}-{last}/{}", read.range.start, read.size);
        put_header(&mut response, header::CONTENT_RANGE, &value);
    }
    if let Some(etag) = &etag {
        put_header(&mut response, header::ETAG, etag);
    }
    Ok(response)
}

fn put_header(response: &mut Response, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

/// The tenant the request reads for: the one whose signature the URL carries, else the
/// one its bearer key belongs to.
fn who(
    state: &AppState,
    runtime: &Runtime,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    task_id: &str,
    index: u32,
) -> Result<String, ApiError> {
    match (query.get("expires"), query.get("sig")) {
        (Some(expires), Some(sig)) => {
            let expires: u64 = expires
                .parse()
                .map_err(|_| ApiError::Forbidden("the URL's signature is wrong".into()))?;
            let now = u64::try_from(Utc::now().timestamp()).unwrap_or(0);
            let signer = state.files.signer(runtime);
            for tenant in runtime.config.tenants.keys() {
                match signer.verify(tenant, task_id, index, expires, sig, now) {
                    Ok(()) => return Ok(tenant.clone()),
                    Err(Forbidden::Expired) => {
                        return Err(ApiError::Forbidden(
                            "the URL expired; read the task again for a fresh one".into(),
                        ))
                    }
                    Err(Forbidden::BadSignature) => {}
                }
            }
            Err(ApiError::Forbidden("the URL's signature is wrong".into()))
        }
        (None, None) => {
            let key = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, key)| key.trim())
                .ok_or(ApiError::Unauthorized)?;
            runtime
                .tenant_for_key(key)
                .map(|t| t.name.clone())
                .ok_or(ApiError::Unauthorized)
        }
        _ => Err(ApiError::Forbidden(
            "a signed URL needs both expires and sig".into(),
        )),
    }
}

/// One `bytes=` range; anything else (several ranges, other units, nonsense) is ignored and
/// the whole file served, as RFC 9110 allows.
fn parse_range(value: &str) -> Option<ByteRange> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    match (first.is_empty(), last.is_empty()) {
        (true, false) => Some(ByteRange::Suffix(last.parse().ok()?)),
        (false, true) => Some(ByteRange::From(first.parse().ok()?)),
        (false, false) => Some(ByteRange::Inclusive {
            first: first.parse().ok()?,
            last: last.parse().ok()?,
        }),
        (true, true) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_as_rfc_9110_writes_them() {
        assert_eq!(
            parse_range("bytes=0-99"),
            Some(ByteRange::Inclusive { first: 0, last: 99 })
        );
        assert_eq!(parse_range("bytes=100-"), Some(ByteRange::From(100)));
        assert_eq!(parse_range("bytes=-5"), Some(ByteRange::Suffix(5)));
        assert_eq!(parse_range("bytes=0-1,5-6"), None);
        assert_eq!(parse_range("items=0-1"), None);
        assert_eq!(parse_range("bytes=x-1"), None);
        assert_eq!(parse_range("bytes=-"), None);
    }
}
