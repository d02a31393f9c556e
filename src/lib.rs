//! The senetc command line: loading models, writing outputs atomically, reports.
//! The binary (`main.rs`) parses arguments and maps errors to exit codes.

pub mod load;
pub mod npy;
pub mod numeric;
pub mod output;
pub mod precision;
pub mod progress;
pub mod report;

/// A problem with how senetc was called or with a file it was given to read: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The exit code for an error: 2 for bad usage or unreadable input, 1 for a model that
/// cannot be compiled.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    use senetc_frontends::FrontendError;
    for cause in err.chain() {
        if cause.downcast_ref::<UsageError>().is_some() {
            return 2;
        }
        if let Some(fe) = cause.downcast_ref::<FrontendError>() {
            return match fe {
                FrontendError::Io { .. } | FrontendError::Decode { .. } => 2,
                FrontendError::Unsupported { .. } => 1,
            };
        }
    }
    1
}

/// The one-line message for an error: its context chain joined with `: `. Library errors
/// print their source in their own text (so they read well alone), and a cause that the
/// text so far already ends with is left out rather than said twice.
pub fn message(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.is_empty() {
            out = text;
        } else if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn message_says_a_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let fe = senetc_frontends::FrontendError::Io { path: "m.onnx".into(), source: io };
        let e = anyhow::Error::new(fe).context("loading");
        assert_eq!(super::message(&e), "loading: m.onnx: No such file");
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(super::message(&e), "outer: inner");
    }
}
